"""Every malformed request gets the provider's own status and body, and changes no state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.anyio


def pixelcut_shape(status: int, body: Any) -> bool:
    return status in (400, 401, 403, 408) and set(body) == {"error", "error_code"}


def fal_shape(status: int, body: Any) -> bool:
    if status == 422:
        return isinstance(body["detail"], list) and all({"loc", "msg", "type"} <= set(e) for e in body["detail"])
    return status in (401, 403, 408, 413) and "detail" in body


def pixazo_shape(status: int, body: Any) -> bool:
    if status == 401:
        return set(body) == {"statusCode", "message"}
    return status in (400, 402, 408, 413) and set(body) == {"error", "message"}


def pixelapi_shape(status: int, body: Any) -> bool:
    return status in (400, 401, 402, 403, 408, 413, 422) and set(body) == {"detail"}


@dataclass(frozen=True)
class Op:
    name: str
    path: str
    auth: dict[str, str]
    valid: dict[str, Any]
    shape: Callable[[int, Any], bool]
    wrong_type: dict[str, Any]
    bad_enum: dict[str, Any] | None
    max_body: int = 110 * 1024 * 1024


UA = {"User-Agent": "MyApp/1.0"}
OPS = [
    Op(
        "pixelcut-image",
        "/pixelcut/v1/remove-background",
        {"X-API-KEY": "sk_m"},
        {"image_url": "https://example.com/p.png"},
        pixelcut_shape,
        {"image_url": 5},
        {"image_url": "https://example.com/p.png", "format": "webp"},
    ),
    Op(
        "pixelcut-video",
        "/pixelcut/v1/video/remove-background",
        {"X-API-KEY": "sk_m"},
        {"video_url": "https://example.com/v.mp4"},
        pixelcut_shape,
        {"video_url": ["x"]},
        {"video_url": "https://example.com/v.mp4", "output_format": "avi"},
    ),
    Op(
        "fal-queue",
        "/fal/queue/pixelcut/video-background-removal",
        {"Authorization": "Key k"},
        {"video_url": "https://example.com/v.mp4"},
        fal_shape,
        {"video_url": {"a": 1}},
        {"video_url": "https://example.com/v.mp4", "background": "pink"},
    ),
    Op(
        "fal-run",
        "/fal/run/pixelcut/video-background-removal",
        {"Authorization": "Key k"},
        {"video_url": "https://example.com/v.mp4"},
        fal_shape,
        {"video_url": 1.5},
        {"video_url": "https://example.com/v.mp4", "output_format": "webm"},
    ),
    Op(
        "pixazo",
        "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request",
        {"Ocp-Apim-Subscription-Key": "k"},
        {"video_url": "https://example.com/v.mp4"},
        pixazo_shape,
        {"video_url": True},
        {"video_url": "https://example.com/v.mp4", "background": "red"},
    ),
    Op(
        "pixelapi-rmbg",
        "/pixelapi/v1/image/remove-background",
        {"Authorization": "Bearer k", **UA},
        {"image_url": "https://example.com/p.png"},
        pixelapi_shape,
        {"image_url": 3},
        None,
        10 * 1024 * 1024,
    ),
    Op(
        "pixelapi-generate",
        "/pixelapi/v1/image/generate",
        {"Authorization": "Bearer k", **UA},
        {"prompt": "a cat", "model": "flux-schnell"},
        pixelapi_shape,
        {"prompt": "x", "width": "big"},
        {"prompt": "a cat", "model": "dalle"},
        10 * 1024 * 1024,
    ),
    Op(
        "pixelapi-audio",
        "/pixelapi/v1/audio/generate",
        {"Authorization": "Bearer k", **UA},
        {"prompt": "a tune"},
        pixelapi_shape,
        {"prompt": "a tune", "duration": 3.5},
        {"prompt": "a tune", "model": "other"},
        10 * 1024 * 1024,
    ),
    Op(
        "pixelapi-video",
        "/pixelapi/v1/video/generate",
        {"Authorization": "Bearer k", **UA},
        {"prompt": "waves"},
        pixelapi_shape,
        {"prompt": "waves", "duration": "long"},
        {"prompt": "waves", "resolution": "4k"},
        10 * 1024 * 1024,
    ),
    Op(
        "pixelapi-tryon",
        "/pixelapi/v1/virtual-tryon",
        {"Authorization": "Bearer k", **UA},
        {"person_image": "x", "garment_image": "y", "category": "dress"},
        pixelapi_shape,
        {"person_image": 1, "garment_image": "y", "category": "dress"},
        None,
        10 * 1024 * 1024,
    ),
]


async def _state(client: httpx.AsyncClient) -> Any:
    jobs = (await client.get("/__mock/jobs")).json()["jobs"]
    balances = [
        (await client.get("/pixelcut/v1/credits", headers={"X-API-KEY": "sk_m"})).json(),
        (await client.get("/pixelapi/v1/account/balance", headers={"Authorization": "Bearer k", **UA})).json(),
    ]
    return jobs, balances


def _cases(op: Op) -> list[tuple[str, dict[str, Any]]]:
    json_headers = {**op.auth, "content-type": "application/json"}
    cases = [
        ("bad json", {"content": b'{"video_url": ', "headers": json_headers}),
        ("json array", {"content": b"[1, 2]", "headers": json_headers}),
        ("empty body", {"content": b"", "headers": json_headers}),
        ("wrong content type", {"content": b"video_url=x", "headers": {**op.auth, "content-type": "text/plain"}}),
        ("wrong type", {"json": op.wrong_type, "headers": op.auth}),
        ("missing field", {"json": {}, "headers": op.auth}),
        ("huge body", {"content": b"{}", "headers": {**json_headers, "content-length": str(op.max_body + 1)}}),
        ("missing key", {"json": op.valid, "headers": {k: v for k, v in op.auth.items() if k == "User-Agent"}}),
    ]
    if op.bad_enum is not None:
        cases.append(("unknown enum", {"json": op.bad_enum, "headers": op.auth}))
    return cases


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
async def test_malformed_requests(client: httpx.AsyncClient, op: Op) -> None:
    await _state(client)  # create the accounts first, so the comparison sees balances
    before = await _state(client)
    for case, kwargs in _cases(op):
        r = await client.post(op.path, **kwargs)
        assert r.status_code < 500, (case, r.status_code, r.text)
        assert op.shape(r.status_code, r.json()), (case, r.status_code, r.text)
        if case == "huge body":
            assert r.status_code in (400, 413), r.text
        if case == "missing key":
            assert r.status_code == 401, r.text
    assert await _state(client) == before, "a rejected request changed the state"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
async def test_random_json_never_breaks_the_shape(app: Any, op: Op) -> None:
    """Hypothesis: any JSON object missing the required fields gets the provider's error shape."""
    import anyio

    transport = httpx.ASGITransport(app=app)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4))
    def check(body: dict[str, Any]) -> None:
        for key in op.valid:
            body.pop(key, None)

        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.post(op.path, json=body, headers=op.auth)

        r = anyio.from_thread.run(call)
        assert r.status_code < 500 and op.shape(r.status_code, r.json()), (body, r.status_code, r.text)

    await anyio.to_thread.run_sync(check)
