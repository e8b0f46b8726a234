"""fal to the letter of its docs: one test per difference issue 15 listed, each asserting the documented
status, headers and body (the storage protocol, the proxy and CORS beside them)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.conftest import advance

pytestmark = pytest.mark.anyio
KEY = {"Authorization": "Key fal-docs"}
APP = "/pixelcut/video-background-removal"
SUBMIT = f"/fal/queue{APP}"
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"
TIMEOUT_DOC = "common-parameters#X-Fal-Request-Timeout (start_timeout)"
ERRORS_DOC = "request-errors#Error Type Reference"


async def _submit(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post(SUBMIT, json={"video_url": SAMPLE}, headers={**KEY, **(headers or {})})


async def _balance(client: httpx.AsyncClient) -> float:
    r = await client.get("/__mock/accounts/fal/fal-docs")
    assert r.status_code == 200, r.text
    return float(r.json()["balance"])


# --- the queue -----------------------------------------------------------------------------------


@pytest.mark.fact(
    "fal: X-Fal-Request-Timeout passed before a runner starts is a 504 request_timeout, type user",
    source=TIMEOUT_DOC,
)
async def test_a_request_still_queued_at_its_timeout_ends_with_request_timeout(client: httpx.AsyncClient) -> None:
    await client.post("/__mock/faults", json={"provider": "fal", "action": "queue", "delay": 30, "times": 1})
    job = (await _submit(client, {"X-Fal-Request-Timeout": "10.0"})).json()
    await advance(client, 9)
    assert (await client.get(job["status_url"], headers=KEY)).json()["status"] == "IN_QUEUE"
    await advance(client, 2)
    status = await client.get(job["status_url"], params={"logs": "1"}, headers=KEY)
    body = status.json()
    assert status.status_code == 200 and body["status"] == "COMPLETED"
    assert body["error_type"] == "request_timeout" and body["logs"] == []
    assert body["metrics"] == {"inference_time": None}
    result = await client.get(job["response_url"], headers=KEY)
    assert result.status_code == 504
    assert result.json() == {"detail": "Request timed out", "error_type": "request_timeout"}
    assert result.headers["x-fal-error-type"] == "request_timeout"
    assert result.headers["x-fal-request-timeout-type"] == "user"


@pytest.mark.fact("fal: a deadline met by the runner's start changes nothing", source=TIMEOUT_DOC)
async def test_a_timeout_the_queue_meets_lets_the_request_run(client: httpx.AsyncClient) -> None:
    job = (await _submit(client, {"X-Fal-Request-Timeout": "30.0"})).json()
    await advance(client, 5)
    assert (await client.get(job["response_url"], headers=KEY)).status_code == 200


@pytest.mark.fact(
    "fal: a sync run whose X-Fal-Request-Timeout passes before a runner starts is a 504 request_timeout, type user",
    source=TIMEOUT_DOC,
)
@pytest.mark.fact(
    "fal: a timed-out sync run answers its 504 at once",
    source="openapi/fal.yaml#/paths/~1run~1pixelcut~1video-background-removal/post/parameters/0",
)
async def test_sync_run_with_a_missed_timeout_is_a_504(client: httpx.AsyncClient) -> None:
    await client.post("/fal/rest/storage/auth/token", json={}, headers=KEY)  # the key's account, funded
    await client.post("/__mock/faults", json={"provider": "fal", "action": "queue", "delay": 30, "times": 1})
    before = await _balance(client)
    now = (await client.get("/__mock/clock")).json()["now"]
    r = await client.post(f"/fal/run{APP}", json={"video_url": SAMPLE}, headers={**KEY, "X-Fal-Request-Timeout": "5"})
    assert r.status_code == 504 and r.json()["error_type"] == "request_timeout"
    assert r.headers["x-fal-request-timeout-type"] == "user"
    assert (await client.get("/__mock/clock")).json()["now"] == now, "answered at once, not at the deadline"
    assert await _balance(client) == before, "5xx failures are not billed"


@pytest.mark.fact(
    "fal: an invalid timeout header is a 400 bad_request", source="request-errors#bad_request (invalid timeout header)"
)
@pytest.mark.parametrize("value", ["soon", "0.1", "-3", "nan"])
async def test_an_invalid_timeout_header_is_bad_request(client: httpx.AsyncClient, value: str) -> None:
    r = await _submit(client, {"X-Fal-Request-Timeout": value})
    assert r.status_code == 400 and r.json()["error_type"] == "bad_request"
    assert r.headers["x-fal-error-type"] == "bad_request"


@pytest.mark.fact("fal: error responses carry X-Fal-Retryable", source="errors#Headers X-Fal-Retryable")
async def test_422s_carry_x_fal_retryable(client: httpx.AsyncClient) -> None:
    invalid = await client.post(SUBMIT, json={"video_url": SAMPLE, "background": "mauve"}, headers=KEY)
    assert invalid.status_code == 422 and invalid.headers["x-fal-retryable"] == "false"
    assert invalid.json()["detail"][0]["loc"] == ["body", "background"]
    job = (await client.post(SUBMIT, json={"video_url": "https://example.com/x.txt"}, headers=KEY)).json()
    await advance(client, 5)
    replayed = await client.get(job["response_url"], headers=KEY)
    assert replayed.status_code == 422 and replayed.headers["x-fal-retryable"] == "false"


@pytest.mark.fact("fal: request errors are detail + error_type, X-Fal-Error-Type", source=ERRORS_DOC)
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, "internal_error"),
        (502, "runner_incomplete_response"),
        (503, "runner_disconnected"),
        (504, "request_timeout"),
    ],
)
async def test_server_errors_are_documented_request_errors(client: httpx.AsyncClient, status: int, kind: str) -> None:
    await client.post("/__mock/faults", json={"provider": "fal", "action": "status", "status": status, "times": 1})
    r = await _submit(client)
    assert r.status_code == status and r.json()["error_type"] == kind and isinstance(r.json()["detail"], str)
    assert r.headers["x-fal-error-type"] == kind and r.headers["x-fal-request-id"]


@pytest.mark.fact("fal: a job that errored is a request error, never an undocumented type", source=ERRORS_DOC)
async def test_an_errored_job_names_a_documented_type(client: httpx.AsyncClient) -> None:
    await client.post("/__mock/faults", json={"provider": "fal", "action": "error", "times": 1})
    job = (await _submit(client)).json()
    await advance(client, 5)
    status = (await client.get(job["status_url"], headers=KEY)).json()
    assert status["error_type"] == "runner_disconnected"
    result = await client.get(job["response_url"], headers=KEY)
    assert result.status_code == 503 and result.json()["error_type"] == "runner_disconnected"


@pytest.mark.fact(
    "fal: a request cancelled in the queue never ran: no inference time, no runner logs",
    source="deployment/requests#IN_QUEUE ... logs from your code",
)
async def test_a_cancelled_queued_request(client: httpx.AsyncClient) -> None:
    job = (await _submit(client)).json()
    await advance(client, 0.2)
    assert (await client.put(job["cancel_url"], headers=KEY)).status_code == 202
    await advance(client, 10)
    body = (await client.get(job["status_url"], params={"logs": "1"}, headers=KEY)).json()
    assert body["status"] == "COMPLETED" and body["error_type"] == "client_cancelled"
    assert body["metrics"] == {"inference_time": None} and body["logs"] == []


async def test_a_request_cancelled_while_running_logs_up_to_its_cancel(client: httpx.AsyncClient) -> None:
    job = (await _submit(client)).json()
    await advance(client, 1)
    await client.put(job["cancel_url"], headers=KEY)
    at_cancel = (await client.get(job["status_url"], params={"logs": "1"}, headers=KEY)).json()
    await advance(client, 10)
    body = (await client.get(job["status_url"], params={"logs": "1"}, headers=KEY)).json()
    assert body == at_cancel, "nothing changes after the cancel"
    assert 0 < body["metrics"]["inference_time"] <= 0.5
    assert [log["message"] for log in body["logs"]] == [
        "Starting video background removal",
        "Request finished: cancelled",
    ]


@pytest.mark.fact(
    "fal: X-Fal-Object-Lifecycle-Preference sets how long the output files live",
    source="media-expiration#Per-Request Expiration",
)
async def test_output_files_follow_the_lifecycle_preference(client: httpx.AsyncClient) -> None:
    lifecycle = {"X-Fal-Object-Lifecycle-Preference": '{"expiration_duration_seconds": 60}'}
    job = (await _submit(client, lifecycle)).json()
    await advance(client, 5)
    url = (await client.get(job["response_url"], headers=KEY)).json()["video"]["url"]
    await advance(client, 60)
    assert (await client.get(url)).status_code == 404, "the file is gone after its 60 s"
    assert (await client.get(job["response_url"], headers=KEY)).status_code == 200, "the result is kept 1 hour"


@pytest.mark.fact("fal: every answer, 404s included, carries x-fal-request-id", source="NOTES.md#1.5 x-fal-request-id")
async def test_404s_carry_x_fal_request_id(client: httpx.AsyncClient) -> None:
    for path in (f"{SUBMIT}/requests/nope/status", "/fal/queue/no/such/path", "/fal/cdn/files/ab12/x.mp4"):
        r = await client.get(path, headers=KEY)
        assert r.status_code == 404 and r.headers["x-fal-request-id"], path


@pytest.mark.fact(
    "fal: the backup queue host queue.falrun.com serves the queue", source="fal_client/client.py#_BACKUP_DOMAINS"
)
async def test_the_backup_hosts_are_routed(client: httpx.AsyncClient) -> None:
    r = await client.post(f"https://queue.falrun.com{APP}", json={"video_url": SAMPLE}, headers=KEY)
    assert r.status_code == 200
    assert r.json()["status_url"].startswith("https://queue.falrun.com/pixelcut/")
    status = await client.get(r.json()["status_url"], headers=KEY)
    assert status.status_code == 202
    run = await client.post(f"https://falrun.com{APP}", json={"video_url": SAMPLE}, headers=KEY)
    assert run.status_code == 200 and run.json()["video"]["url"].startswith("https://v3.fal.media/files/")


@pytest.mark.fact(
    "fal: polls are never refused (excess work is queued)", source="model-endpoints/reliability#Rate limits (429)"
)
async def test_status_polls_are_never_rate_limited(tmp_path: Path) -> None:
    app = create_app(Settings.for_tests(state_dir=tmp_path, rate_limits=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        job = (await _submit(client)).json()
        codes = {(await client.get(job["status_url"], headers=KEY)).status_code for _ in range(25)}
        results = {(await client.get(job["response_url"], headers=KEY)).status_code for _ in range(15)}
        cancels = [await client.put(f"{SUBMIT}/requests/nope/cancel", headers=KEY) for _ in range(12)]
    await app.state.mock.aclose()
    assert codes == {202} and results == {400}
    refused = [r for r in cancels if r.status_code == 429]
    assert refused, "other calls keep their limit"
    assert refused[0].json() == {"detail": "Rate limit exceeded"}, "no error_type fal does not document"


# --- storage ---------------------------------------------------------------------------------------


@pytest.mark.fact("fal-client: the storage token call sends {}", source="fal_client/client.py#CDNTokenManager")
async def test_the_token_call_takes_an_empty_object(client: httpx.AsyncClient) -> None:
    r = await client.post("/fal/rest/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}, headers=KEY)
    assert r.status_code == 200 and {"token", "token_type", "base_url", "expires_at"} <= set(r.json())


@pytest.mark.parametrize("storage_type", ["fal-cdn-v3", "gcs"])
async def test_initiate_then_put(client: httpx.AsyncClient, storage_type: str) -> None:
    r = await client.post(
        "/fal/rest/storage/upload/initiate",
        params={"storage_type": storage_type},
        json={"file_name": "clip one.mp4", "content_type": "video/mp4"},
        headers=KEY,
    )
    assert r.status_code == 200
    target = r.json()
    assert target["file_url"].endswith("/clip_one.mp4")
    assert (await client.get(target["file_url"])).status_code == 404, "nothing there before the PUT"
    put = await client.put(target["upload_url"], content=b"\x00" * 2048, headers={"Content-Type": "video/mp4"})
    assert put.status_code == 200
    served = await client.get(target["file_url"])
    assert served.content == b"\x00" * 2048 and served.headers["content-type"] == "video/mp4"
    assert served.headers["x-content-type-options"] == "nosniff"
    again = await client.put(target["upload_url"], content=b"late")
    assert again.status_code == 404, "an upload URL takes one file"


async def test_an_uploaded_page_is_never_served_as_a_page(client: httpx.AsyncClient) -> None:
    token = (await client.post("/fal/rest/storage/auth/token", json={}, headers=KEY)).json()
    auth = {"Authorization": f"{token['token_type']} {token['token']}"}
    for kind in ("text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml"):
        up = await client.post(
            token["base_url"] + "/files/upload",
            content=b"<script>alert(1)</script>",
            headers={**auth, "Content-Type": kind},
        )
        served = await client.get(up.json()["access_url"])
        assert served.headers["content-type"].startswith(kind.split(";")[0])
        assert served.headers["content-disposition"].startswith("attachment;")
        assert served.headers["content-security-policy"] == "sandbox"
        assert served.headers["x-content-type-options"] == "nosniff"


async def test_a_body_over_the_bound_is_refused_unread(client: httpx.AsyncClient) -> None:
    token = (await client.post("/fal/rest/storage/auth/token", json={}, headers=KEY)).json()
    headers = {"Authorization": f"Bearer {token['token']}", "Content-Length": str(200 * 1024 * 1024)}
    r = await client.post(token["base_url"] + "/files/upload", content=b"x", headers=headers)
    assert r.status_code == 413 and r.json() == {"detail": "Request Entity Too Large"}


async def test_multipart_create_parts_complete(client: httpx.AsyncClient) -> None:
    token = (await client.post("/fal/rest/storage/auth/token", json={}, headers=KEY)).json()
    auth = {"Authorization": f"Bearer {token['token']}"}
    created = await client.post(
        token["base_url"] + "/files/upload/multipart",
        headers={**auth, "Content-Type": "video/mp4", "X-Fal-File-Name": "big.mp4"},
    )
    access, upload = created.json()["access_url"], created.json()["uploadId"]
    chunks = [bytes([n]) * 1000 for n in (1, 2, 3)]
    etags = []
    for number in (3, 1, 2):  # any order, as fal-client's threads finish
        part = await client.put(f"{access}/multipart/{upload}/{number}", content=chunks[number - 1], headers=auth)
        assert part.status_code == 200 and part.headers["etag"] == part.json()["etag"]
        assert part.headers["etag"] == f'"{hashlib.md5(chunks[number - 1]).hexdigest()}"'
        etags.append({"partNumber": number, "etag": part.headers["etag"]})
    wrong = [{**etags[0], "etag": '"0"'}, *etags[1:]]
    bad = await client.post(f"{access}/multipart/{upload}/complete", json={"parts": wrong}, headers=auth)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "parts"]
    for number in ("0", "10001", "-1", "%C2%B2", "%D9%A3"):  # "²" and Arabic "3" pass str.isdigit ("²" was a 500)
        out = await client.put(f"{access}/multipart/{upload}/{number}", content=b"x", headers=auth)
        assert out.status_code == 422 and out.json()["detail"][0]["loc"] == ["path", "part"], (number, out.text)
    done = await client.post(f"{access}/multipart/{upload}/complete", json={"parts": etags}, headers=auth)
    assert done.status_code == 200 and done.json()["access_url"] == access
    served = await client.get(access)
    assert served.content == b"".join(chunks) and served.headers["content-type"] == "video/mp4"
    assert (await client.post(f"{access}/multipart/{upload}/complete", json={"parts": etags})).status_code == 404


# --- the proxy protocol and CORS ---------------------------------------------------------------------


@pytest.mark.fact(
    "fal: fal.config({proxyUrl}) sends the real URL in x-fal-target-url",
    source="fal-js middleware.ts#TARGET_URL_HEADER",
)
async def test_the_proxy_serves_the_target_url(client: httpx.AsyncClient) -> None:
    target = {"x-fal-target-url": f"https://queue.fal.run{APP}"}
    r = await client.post("/fal/proxy", json={"video_url": SAMPLE}, headers={**KEY, **target})
    assert r.status_code == 200 and r.json()["status_url"].startswith("http://testserver/fal/queue/")
    status_url = f"https://queue.fal.run{APP}/requests/{r.json()['request_id']}/status?logs=1"
    status = await client.get("/fal/proxy", headers={**KEY, "x-fal-target-url": status_url})
    assert status.status_code == 202 and status.json()["logs"] is not None
    own = await client.get("/fal/proxy", headers={**KEY, "x-fal-target-url": r.json()["status_url"]})
    assert own.status_code == 202, "a URL the mock handed out is a target too"
    keyless = await client.post("/fal/proxy", json={"video_url": SAMPLE}, headers=target)
    assert keyless.status_code == 200, "the proxy adds its own key, as @fal-ai/server-proxy adds FAL_KEY"


@pytest.mark.parametrize(
    "target",
    [None, "https://evil.example/steal", "http://testserver/__mock/clock", "not a url", "https://[::1/x"],  # [: a 500
)
async def test_the_proxy_refuses_other_targets(client: httpx.AsyncClient, target: str | None) -> None:
    headers = {**KEY, **({"x-fal-target-url": target} if target else {})}
    r = await client.post("/fal/proxy", json={}, headers=headers)
    assert r.status_code == 400 and r.json() == "Invalid request"


@pytest.mark.fact(
    "fal: browser apps call fal directly or through the proxy (CORS)", source="fal-js request.ts#mode cors"
)
async def test_cors_on_fal_surfaces_only(client: httpx.AsyncClient) -> None:
    preflight = {
        "Origin": "http://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-fal-target-url",
    }
    for path in ("/fal/proxy", f"{SUBMIT}", "/fal/rest/storage/upload/initiate"):
        r = await client.options(path, headers=preflight)
        assert r.status_code == 200, path
        assert r.headers["access-control-allow-origin"] == "*"
        assert "x-fal-target-url" in r.headers["access-control-allow-headers"].lower()
        assert "POST" in r.headers["access-control-allow-methods"]
    job = await client.post(SUBMIT, json={"video_url": SAMPLE}, headers={**KEY, "Origin": "http://app.example"})
    assert job.headers["access-control-allow-origin"] == "*"
    assert "x-fal-request-id" in job.headers["access-control-expose-headers"].lower()
    other = await client.get("/pixelcut/v1/credits", headers={"X-API-KEY": "sk", "Origin": "http://app.example"})
    assert "access-control-allow-origin" not in other.headers
    for path in ("/__mock/clock", "/__mock/reset", "/__mock/journal"):  # never a preflight for the control plane
        control = await client.options(path, headers=preflight)
        assert "access-control-allow-origin" not in control.headers, path


async def test_an_upload_never_completed_is_removed_a_day_later(client: httpx.AsyncClient, app: Starlette) -> None:
    async def initiate() -> dict[str, str]:
        body = {"file_name": "a.mp4", "content_type": "video/mp4"}
        return (await client.post("/fal/rest/storage/upload/initiate", json=body, headers=KEY)).json()

    old = await initiate()
    uploads = app.state.mock.media.root.parent / "uploads"
    (folder,) = uploads.iterdir()
    day_ago = time.time() - 25 * 3600
    for path in (folder, *folder.iterdir()):
        os.utime(path, (day_ago, day_ago))
    fresh = await initiate()
    assert (await client.put(old["upload_url"], content=b"late")).status_code == 404
    assert (await client.put(fresh["upload_url"], content=b"on time")).status_code == 200
