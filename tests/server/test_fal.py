"""fal end to end in-process: the queue protocol, SSE, cancel, errors, sync run and uploads."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from mockserver.app import create_app
from mockserver.engine.codecs import read_rgba
from mockserver.engine.metrics import iou
from mockserver.settings import Settings
from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio
KEY = {"Authorization": "Key fal-test-key"}
SUBMIT = "/fal/queue/pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"


async def _submit(client: httpx.AsyncClient, **body: object) -> dict[str, str]:
    r = await client.post(SUBMIT, json={"video_url": SAMPLE, **body}, headers=KEY)
    assert r.status_code == 200, r.text
    assert r.headers["x-fal-request-id"] == r.json()["request_id"]
    return r.json()


async def test_queue_walks_through_every_status(
    client: httpx.AsyncClient, clip_file: tuple[bytes, list[np.ndarray]], tmp_path: Path
) -> None:
    data, truths = clip_file
    job = await _submit(client, video_url=data_url(data, "video/mp4"))
    assert {"request_id", "gateway_request_id", "response_url", "status_url", "cancel_url", "queue_position"} <= set(
        job
    )
    assert job["status"] == "IN_QUEUE"
    codes, words = [], []
    for step in (0, 0.6, 5):
        await advance(client, step)
        r = await client.get(job["status_url"], params={"logs": "1"}, headers=KEY)
        codes.append(r.status_code)
        words.append(r.json()["status"])
    assert codes == [202, 202, 200] and words == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    final = r.json()
    assert final["metrics"]["inference_time"] > 0 and final["logs"][-1]["message"].startswith("Processed")
    result = await client.get(job["response_url"], headers=KEY)
    video = result.json()["video"]
    assert video["content_type"] == "video/webm" and video["file_name"].endswith("_result.webm")
    media = await client.get(video["url"])
    assert len(media.content) == video["file_size"]
    path = tmp_path / "out.webm"
    path.write_bytes(media.content)
    frames = list(read_rgba(path))
    assert np.mean([iou(f[..., 3] / 255, t) for f, t in zip(frames, truths, strict=True)]) >= 0.9


@pytest.mark.parametrize(("logs", "has_logs"), [("0", False), ("false", False), ("1", True), ("true", True)])
async def test_every_logs_spelling(client: httpx.AsyncClient, logs: str, has_logs: bool) -> None:
    job = await _submit(client)
    await advance(client, 1)
    body = (await client.get(job["status_url"], params={"logs": logs}, headers=KEY)).json()
    assert "logs" in body and (body["logs"] is not None) == has_logs


async def test_result_before_completion_is_400(client: httpx.AsyncClient) -> None:
    job = await _submit(client)
    r = await client.get(job["response_url"], headers=KEY)
    assert r.status_code == 400 and r.json() == {"detail": "Request is still in progress"}


async def test_cancel(client: httpx.AsyncClient) -> None:
    job = await _submit(client)
    r = await client.put(job["cancel_url"], headers=KEY)
    assert r.status_code == 202 and r.json() == {"status": "CANCELLATION_REQUESTED"}
    status = await client.get(job["status_url"], headers=KEY)
    assert status.status_code == 200 and status.json()["status"] == "COMPLETED"
    assert status.json()["error_type"] == "client_cancelled"
    result = await client.get(job["response_url"], headers=KEY)
    assert result.status_code == 499 and result.json()["error_type"] == "client_cancelled"
    again = await client.put(job["cancel_url"], headers=KEY)
    assert again.status_code == 400 and again.json() == {"status": "ALREADY_COMPLETED"}
    missing = await client.put(f"{SUBMIT}/requests/nope/cancel", headers=KEY)
    assert missing.status_code == 404 and missing.json() == {"status": "NOT_FOUND"}


async def test_failed_run_is_completed_with_error(client: httpx.AsyncClient) -> None:
    job = await _submit(client, video_url="https://cdn3.pixelcut.app/not-a-video.txt")
    await advance(client, 5)
    status = (await client.get(job["status_url"], headers=KEY)).json()
    assert status["status"] == "COMPLETED" and status["error"] and status["error_type"]
    result = await client.get(job["response_url"], headers=KEY)
    assert result.status_code == 422
    assert result.json()["detail"][0]["loc"] == ["body", "video_url"]


async def test_status_stream_sends_events_until_completed(client: httpx.AsyncClient) -> None:
    job = await _submit(client)
    await advance(client, 5)
    async with client.stream("GET", job["status_url"] + "/stream", headers=KEY) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) async for line in r.aiter_lines() if line.startswith("data: ")]
    assert events[-1]["status"] == "COMPLETED"


async def test_status_stream_moves_its_job_under_the_polls_progression(tmp_path: Path) -> None:
    """A client that only watches the stream (fal's JS client, schemathesis) sees the job end."""
    app = create_app(Settings.for_tests(state_dir=tmp_path, progression="polls"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        job = await _submit(client)
        async with client.stream("GET", job["status_url"] + "/stream", headers=KEY) as r:
            events = [json.loads(line[6:]) async for line in r.aiter_lines() if line.startswith("data: ")]
    await app.state.mock.aclose()
    assert [e["status"] for e in events] == ["IN_PROGRESS", "COMPLETED"]  # opening the stream was the 1st poll


async def test_sync_run_returns_the_output(client: httpx.AsyncClient, tmp_path: Path) -> None:
    body = {
        "video_url": SAMPLE,
        "background": "custom",
        "background_color": {"r": 255, "g": 0, "b": 0},
        "output_format": "mkv_h264",
    }
    r = await client.post("/fal/run/pixelcut/video-background-removal", json=body, headers=KEY)
    assert r.status_code == 200, r.text
    video = r.json()["video"]
    assert video["content_type"] == "video/x-matroska"
    path = tmp_path / "out.mkv"
    path.write_bytes((await client.get(video["url"])).content)
    corner = next(read_rgba(path))[2, 2, :3]
    assert corner[0] > 200 and corner[1] < 60, "background is not red"


async def test_upload_then_use_the_url(client: httpx.AsyncClient, clip_file: tuple[bytes, list[np.ndarray]]) -> None:
    token = (
        await client.post("/fal/rest/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}, headers=KEY)
    ).json()
    upload = await client.post(
        token["base_url"] + "/files/upload",
        content=clip_file[0],
        headers={
            "Authorization": f"{token['token_type']} {token['token']}",
            "Content-Type": "video/mp4",
            "X-Fal-File-Name": "mine.mp4",
        },
    )
    assert upload.status_code == 200
    url = upload.json()["access_url"]
    assert url.endswith("/mine.mp4") and (await client.get(url)).content == clip_file[0]
    job = await _submit(client, video_url=url)
    await advance(client, 5)
    assert (await client.get(job["response_url"], headers=KEY)).json()["video"]["file_name"] == "mine_result.webm"


@pytest.mark.fact(
    "fal: the queue keeps a result 1 hour; its CDN files live on their own",
    source="inference-api/queue/result#fal keeps the result for 1 hour after the request completes",
)
async def test_result_and_its_files_have_their_own_lifetimes(client: httpx.AsyncClient) -> None:
    job = await _submit(client)
    await advance(client, 5)
    url = (await client.get(job["response_url"], headers=KEY)).json()["video"]["url"]
    await advance(client, 3600)
    gone = await client.get(job["response_url"], headers=KEY)
    assert gone.status_code == 404 and gone.json() == {"detail": "Request not found"}
    assert gone.headers["x-fal-request-id"]
    assert (await client.get(url)).status_code == 200, "the file outlives the queue's copy of the result"
    await advance(client, 7 * 24 * 3600)
    assert (await client.get(url)).status_code == 404


async def test_errors_in_fal_shape(client: httpx.AsyncClient) -> None:
    r = await client.post(SUBMIT, json={"video_url": SAMPLE})
    assert r.status_code == 401 and r.json() == {"detail": "Unauthorized"} and r.headers["x-fal-request-id"]
    r = await client.post(
        SUBMIT, json={"video_url": SAMPLE, "background": "transparent", "output_format": "mp4_h264"}, headers=KEY
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "output_format"]
    r = await client.post(SUBMIT, json={"video_url": SAMPLE, "background": "custom"}, headers=KEY)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "background_color"]
    r = await client.get(f"{SUBMIT}/requests/unknown/status", headers=KEY)
    assert r.status_code == 404 and r.json() == {"detail": "Request not found"}
