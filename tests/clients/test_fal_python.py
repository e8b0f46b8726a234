"""The newest fal-client (sync and async) through every path against the mock, unmodified: subscribe,
submit/status/result/cancel, run, and every upload path (the CDN's single shot, its multipart over
100 MB, the storage fallback ``repository="fal"``) at 1 KB, 20 MB and 101 MB."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import pytest

APP = "pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"
MB = 1024 * 1024

# fal-client opens httpx clients for storage calls and leaves them to the garbage collector; the
# unclosed-socket warning is its own, not the mock's.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")


def _data(size: int) -> bytes:
    """`size` bytes, not all alike (a part swapped or dropped would change the digest)."""
    block = bytes(range(251)) * (4096 // 251 + 1)
    return (block * (size // len(block) + 1))[:size]


def _digest_at(url: str) -> tuple[str, str, int]:
    """(sha256, content type, size) of what the mock serves at `url`, streamed."""
    digest, size = hashlib.sha256(), 0
    with httpx.stream("GET", url, timeout=120) as r:
        assert r.status_code == 200
        for chunk in r.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), r.headers["content-type"], size


def test_sync_subscribe_queue_calls_cancel_and_run(fal_urls: str) -> None:
    import fal_client

    client = fal_client.SyncClient(key="py-sync")
    updates: list[object] = []
    result = client.subscribe(APP, arguments={"video_url": SAMPLE}, with_logs=True, on_queue_update=updates.append)
    assert result["video"]["content_type"] == "video/webm"
    assert any(isinstance(u, fal_client.InProgress) for u in updates)
    handle = client.submit(APP, arguments={"video_url": SAMPLE, "background": "white"})
    assert isinstance(client.status(APP, handle.request_id, with_logs=True), fal_client.Queued)
    events = list(handle.iter_events(with_logs=True, interval=0))
    assert isinstance(events[-1], fal_client.Completed) and events[-1].metrics["inference_time"] > 0
    assert client.result(APP, handle.request_id)["video"]["content_type"] == "video/mp4"
    late = client.submit(APP, arguments={"video_url": SAMPLE})
    client.cancel(APP, late.request_id)
    cancelled = client.status(APP, late.request_id, with_logs=True)
    assert isinstance(cancelled, fal_client.Completed) and cancelled.logs == []
    with pytest.raises(fal_client.client.FalClientHTTPError) as err:
        client.result(APP, late.request_id)
    assert err.value.status_code == 499 and err.value.error_type == "client_cancelled"
    assert client.run(APP, arguments={"video_url": SAMPLE})["video"]["url"].startswith(fal_urls)


def test_async_subscribe_queue_calls_and_run(fal_urls: str) -> None:
    import fal_client

    async def paths() -> None:
        client = fal_client.AsyncClient(key="py-async")
        result = await client.subscribe(APP, arguments={"video_url": SAMPLE, "output_format": "gif"}, with_logs=True)
        assert result["video"]["content_type"] == "image/gif"
        handle = await client.submit(APP, arguments={"video_url": SAMPLE})
        assert isinstance(await handle.status(), fal_client.Queued)
        assert (await handle.get())["video"]["content_type"] == "video/webm"
        late = await client.submit(APP, arguments={"video_url": SAMPLE})
        await late.cancel()
        assert (await client.run(APP, arguments={"video_url": SAMPLE}))["video"]["url"]

    asyncio.run(paths())


@pytest.mark.parametrize("size", [1024, 20 * MB])
def test_sync_upload_single_shot(fal_urls: str, size: int) -> None:
    import fal_client

    data = _data(size)
    url = fal_client.SyncClient(key="py-sync").upload(data, "application/x-test", file_name="data.bin")
    assert url.startswith(f"{fal_urls}/fal/cdn/files/") and url.endswith("/data.bin")
    assert _digest_at(url) == (hashlib.sha256(data).hexdigest(), "application/x-test", size)


@pytest.mark.slow
@pytest.mark.fact("fal-client: over 100 MB an upload is multipart", source="fal_client/client.py#MULTIPART_THRESHOLD")
def test_sync_upload_101mb_goes_multipart(fal_urls: str, tmp_path: Path) -> None:
    import fal_client

    big = tmp_path / "big.mp4"
    big.write_bytes(_data(101 * MB))
    url = fal_client.SyncClient(key="py-sync").upload_file(big)
    assert _digest_at(url) == (hashlib.sha256(big.read_bytes()).hexdigest(), "video/mp4", 101 * MB)


@pytest.mark.slow
def test_async_uploads_1kb_20mb_101mb(fal_urls: str) -> None:
    import fal_client

    async def uploads() -> list[str]:
        client = fal_client.AsyncClient(key="py-async")
        return [await client.upload(_data(size), "application/octet-stream") for size in (1024, 20 * MB, 101 * MB)]

    for url, size in zip(asyncio.run(uploads()), (1024, 20 * MB, 101 * MB), strict=True):
        assert _digest_at(url) == (hashlib.sha256(_data(size)).hexdigest(), "application/octet-stream", size)


@pytest.mark.fact(
    "fal-client: the fallback repository initiates storage_type=gcs", source="fal_client/client.py#_upload_via_storage"
)
def test_upload_through_the_storage_fallback(fal_urls: str) -> None:
    import fal_client

    data = _data(1024)
    url = fal_client.SyncClient(key="py-sync").upload(data, "image/png", file_name="x.png", repository="fal")
    assert _digest_at(url) == (hashlib.sha256(data).hexdigest(), "image/png", 1024)

    async def upload() -> str:
        return await fal_client.AsyncClient(key="py-async").upload(data, "image/png", repository="fal")

    assert _digest_at(asyncio.run(upload()))[0] == hashlib.sha256(data).hexdigest()


def test_an_uploaded_clip_is_used_by_a_job(fal_urls: str, tmp_path: Path) -> None:
    import fal_client

    from mockserver.runtime.samples import sample

    found = sample("mine.mp4")
    assert found is not None
    clip = tmp_path / "mine.mp4"
    clip.write_bytes(found[0])
    client = fal_client.SyncClient(key="py-sync")
    url = client.upload_file(clip)
    assert client.subscribe(APP, arguments={"video_url": url})["video"]["file_name"] == "mine_result.webm"


@pytest.mark.fact(
    "fal: start_timeout passed in the queue is a 504 the client does not retry",
    source="common-parameters#X-Fal-Request-Timeout (start_timeout)",
)
def test_start_timeout_surfaces_as_falls_504(fal_urls: str) -> None:
    import fal_client

    rule = {"provider": "fal", "operation": "fal-queue-submit", "action": "queue", "delay": 60, "times": 1}
    assert httpx.post(f"{fal_urls}/__mock/faults", json=rule, timeout=30).status_code == 201
    with pytest.raises(fal_client.client.FalClientHTTPError) as err:
        fal_client.SyncClient(key="py-timeout").subscribe(APP, arguments={"video_url": SAMPLE}, start_timeout=5)
    assert err.value.status_code == 504 and err.value.error_type == "request_timeout"
    assert err.value.response_headers["x-fal-request-timeout-type"] == "user"
