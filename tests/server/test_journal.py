"""The request journal: every provider request and its response, queryable from /__mock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.core.backends.base import JournalQuery
from mockserver.core.backends.memory import MemoryJournal
from mockserver.core.journal import Entry

pytestmark = pytest.mark.anyio


async def test_requests_and_responses_are_recorded(client: httpx.AsyncClient) -> None:
    await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/p.png"}, headers={"X-API-KEY": "sk_a"}
    )
    await client.get("/pixelcut/v1/credits", headers={"X-API-KEY": "sk_b"})
    await client.get("/pixelapi/v1/models", headers={"Authorization": "Bearer k", "User-Agent": "J/1"})
    shown = {"provider": "pixelcut", "reveal": "credentials"}  # keys as sent (else fingerprints)
    entries = (await client.get("/__mock/journal", params=shown)).json()["entries"]
    assert [(e["method"], e["operation"], e["key"], e["status"]) for e in entries] == [
        ("POST", "remove-background", "sk_a", 200),
        ("GET", "get-credits", "sk_b", 200),
    ]
    first = entries[0]
    assert first["request_body"] == '{"image_url":"https://example.com/p.png"}'
    assert "result_url" in first["response_body"] and first["response_headers"]["content-type"] == "application/json"
    assert first["duration_ms"] > 0 and first["at"] > 0


async def test_filters_media_and_control_plane(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/p.png"}, headers={"X-API-KEY": "sk_a"}
    )
    await client.get(r.json()["result_url"])
    await client.get("/__mock/health")
    by_key = (await client.get("/__mock/journal", params={"key": "sk_a"})).json()["entries"]
    assert len(by_key) == 1
    media = (await client.get("/__mock/journal", params={"path": "/public/result/"})).json()["entries"]
    assert (
        media[0]["status"] == 200
        and media[0]["response_body"].startswith("<")
        and "image/png" in media[0]["response_body"]
    )
    assert not (await client.get("/__mock/journal", params={"path": "/__mock"})).json()["entries"]
    assert (await client.get("/__mock/journal", params={"limit": "x"})).status_code == 422
    await client.post("/__mock/reset")
    assert (await client.get("/__mock/journal")).json()["entries"] == []


async def test_rejected_requests_are_recorded_too(client: httpx.AsyncClient) -> None:
    await client.post(
        "/fal/queue/pixelcut/video-background-removal",
        content=b"{",
        headers={"Authorization": "Key k", "content-type": "application/json"},
    )
    shown = {"provider": "fal", "reveal": "credentials"}
    entry = (await client.get("/__mock/journal", params=shown)).json()["entries"][-1]
    assert entry["status"] == 422 and entry["request_body"] == "{" and entry["key"] == "k"


def test_journal_is_bounded() -> None:
    journal = MemoryJournal(capacity=3)
    for i in range(5):
        journal.record(Entry(0, float(i), "GET", f"/p{i}", b"", None, None, None, 200, 1.0, (), b"", (), b""))
    assert [e["path"] for e in journal.query(JournalQuery())] == ["/p2", "/p3", "/p4"]
    assert [e["path"] for e in journal.query(JournalQuery(limit=1))] == ["/p4"]


PATHS = st.one_of(
    st.sampled_from(
        [
            "/pixelcut/v1/credits",
            "/pixelcut/v1/credits/",
            "/pixelcut/v1/remove-background",
            "/pixelcut/v1/video/remove-background/job/nope",
            "/pixelcut/assets/public/result/nope.png",
            "/fal/queue/pixelcut/video-background-removal/requests/nope/status",
            "/pixazo/v1/status/nope",
            "/pixelapi/v1/models",
            "/pixelapi/v1/files/nope",
            "/",
            "/nowhere",
        ]
    ),
    st.builds(
        "/{}/{}".format,
        st.sampled_from(["pixelcut", "fal", "pixazo", "pixelapi", "x"]),
        st.text(alphabet="abcz/-.%0", max_size=12),
    ),
)


async def test_every_answer_is_recorded_as_sent(app: Any) -> None:
    """Hypothesis: whatever answers a request (an operation, the provider's 404, a 405, the media
    route), the journal records the status and content type the client received."""
    import anyio

    transport = httpx.ASGITransport(app=app)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]), PATHS)
    def check(method: str, path: str) -> None:
        async def call() -> tuple[httpx.Response, dict[str, Any]]:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                response = await c.request(method, path, headers={"X-API-KEY": "sk_j", "Authorization": "Key k"})
                return response, (await c.get("/__mock/journal", params={"limit": 1})).json()["entries"][-1]

        response, entry = anyio.from_thread.run(call)
        assert (entry["method"], entry["status"]) == (method, response.status_code)
        assert entry["response_headers"].get("content-type") == response.headers.get("content-type")
        if method != "HEAD" and "json" in response.headers.get("content-type", ""):
            assert entry["response_body"] == response.text

    await anyio.to_thread.run_sync(check)
