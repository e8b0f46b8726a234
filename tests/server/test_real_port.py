"""Over a real port: the providers' documented `requests` examples and the real fal-client.

The server runs with progression by polls (queued, running, then done on the third status poll), so
third-party clients that poll on their own finish deterministically without anyone moving a clock.
"""

from __future__ import annotations

import asyncio
import gc
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.live import free_port, read_banner, running


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings.for_tests(state_dir=tmp_path_factory.mktemp("state"), progression="polls")
    with running(create_app(settings)) as url:
        yield url


def test_pixelcut_documented_requests(base_url: str) -> None:
    api = f"{base_url}/pixelcut"
    headers = {"X-API-KEY": "skTEST", "Accept": "application/json"}
    r = requests.post(
        f"{api}/v1/remove-background",
        headers=headers,
        json={"image_url": "https://example.com/product.jpg"},
        timeout=30,
    )
    image = Image.open(io.BytesIO(requests.get(r.json()["result_url"], timeout=30).content))
    assert image.mode == "RGBA"
    job = requests.post(
        f"{api}/v1/video/remove-background",
        headers=headers,
        json={"video_url": "https://example.com/video.mp4"},
        timeout=60,
    )
    assert job.status_code == 202
    for _ in range(10):
        status = requests.get(f"{api}{job.headers['Location']}", headers=headers, timeout=30).json()
        if status["status"] in ("completed", "failed"):
            break
    assert status["status"] == "completed"
    assert requests.get(status["result_url"], timeout=30).headers["content-type"] == "video/mp4"


def test_pixazo_documented_requests(base_url: str) -> None:
    url = f"{base_url}/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
    headers = {
        "Content-Type": "application/json",
        "Cache-Control": "no-cache",
        "Ocp-Apim-Subscription-Key": "YOUR_API_KEY",
    }
    data = {
        "video_url": "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/Video.mp4",
        "background": "transparent",
        "output_format": "webm_vp9",
    }
    response = requests.post(url, json=data, headers=headers, timeout=60)
    request_id = response.json()["request_id"]
    for _ in range(10):
        status = requests.get(
            f"{base_url}/pixazo/v2/requests/status/{request_id}",
            headers={"Ocp-Apim-Subscription-Key": "YOUR_API_KEY"},
            timeout=30,
        ).json()
        if status["status"] == "COMPLETED":
            break
    assert requests.get(status["output"]["media_url"][0], timeout=30).headers["content-type"] == "video/webm"


def test_pixelapi_documented_raw_python(base_url: str, tmp_path: Path) -> None:
    api_key, base = "pk_live_test", f"{base_url}/pixelapi"
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "MyApp/1.0"}
    product = tmp_path / "product.png"
    Image.new("RGB", (200, 200), (240, 240, 240)).save(product)
    with Image.open(product) as im:
        im.paste((200, 30, 30), (50, 50, 150, 150))
        im.save(product)
    with open(product, "rb") as f:
        resp = requests.post(f"{base}/v1/image/remove-background", headers=headers, files={"image": f}, timeout=30)
    gen_id = resp.json()["generation_id"]
    for _ in range(10):
        result = requests.get(f"{base}/v1/image/{gen_id}", headers=headers, timeout=30).json()
        if result["status"] == "completed":
            break
    cutout = Image.open(io.BytesIO(requests.get(result["output_url"], timeout=30).content))
    assert cutout.getpixel((100, 100))[3] == 255 and cutout.getpixel((10, 10))[3] == 0
    assert (
        requests.post(
            f"{base}/v1/image/remove-background", headers={"Authorization": f"Bearer {api_key}"}, json={}, timeout=30
        ).status_code
        == 403
    )


# fal-client opens httpx clients for storage calls and leaves them to the garbage collector; the
# unclosed-socket warning is its own, not the mock's.
FAL_CLIENT_LEAKS = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning"
)


@pytest.fixture
def patched_fal(base_url: str) -> Iterator[None]:
    """Point fal-client's module URLs at the mock (recipe B of NOTES §2.6), then restore them.

    Collects garbage in teardown, after the test's own references are gone, so the sockets
    fal-client leaks are reported under FAL_CLIENT_LEAKS and not in whichever test runs next.
    """
    import fal_client.client as fal

    saved = (fal.QUEUE_URL_FORMAT, fal.RUN_URL_FORMAT, fal.REST_URL, fal.CDN_URL)
    fal.QUEUE_URL_FORMAT, fal.RUN_URL_FORMAT = f"{base_url}/fal/queue/", f"{base_url}/fal/run/"
    fal.REST_URL, fal.CDN_URL = f"{base_url}/fal/rest", f"{base_url}/fal/cdn"
    try:
        yield
    finally:
        fal.QUEUE_URL_FORMAT, fal.RUN_URL_FORMAT, fal.REST_URL, fal.CDN_URL = saved
        gc.collect()


@FAL_CLIENT_LEAKS
def test_fal_client_sync_subscribe_upload_and_handles(patched_fal: None, tmp_path: Path) -> None:
    import fal_client

    client = fal_client.SyncClient(key="fal-key")
    updates: list[object] = []
    result = client.subscribe(
        "pixelcut/video-background-removal",
        arguments={"video_url": "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"},
        with_logs=True,
        on_queue_update=updates.append,
    )
    assert result["video"]["content_type"] == "video/webm"
    assert any(isinstance(u, fal_client.InProgress) for u in updates)
    clip = tmp_path / "mine.mp4"
    clip.write_bytes(_sample_clip())
    url = client.upload_file(clip)
    handle = client.submit("pixelcut/video-background-removal", arguments={"video_url": url, "background": "green"})
    assert isinstance(client.status("pixelcut/video-background-removal", handle.request_id), fal_client.Queued)
    output = handle.get()
    assert output["video"]["file_name"] == "mine_result.mp4"
    assert client.result("pixelcut/video-background-removal", handle.request_id) == output
    late = client.submit("pixelcut/video-background-removal", arguments={"video_url": url})
    client.cancel("pixelcut/video-background-removal", late.request_id)
    assert client.run("pixelcut/video-background-removal", arguments={"video_url": url})["video"]["url"]


@FAL_CLIENT_LEAKS
def test_fal_client_async_subscribe(patched_fal: None) -> None:
    import fal_client

    client = fal_client.AsyncClient(key="fal-key")
    args = {
        "video_url": "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4",
        "output_format": "gif",
    }
    result = asyncio.run(client.subscribe("pixelcut/video-background-removal", arguments=args))
    assert result["video"]["content_type"] == "image/gif"


@FAL_CLIENT_LEAKS
def test_fal_client_errors_surface(patched_fal: None) -> None:
    import fal_client

    client = fal_client.SyncClient(key="fal-key")
    with pytest.raises(fal_client.client.FalClientHTTPError) as err:
        client.subscribe(
            "pixelcut/video-background-removal", arguments={"video_url": "https://example.com/nothing.txt"}
        )
    assert err.value.status_code == 422


def _sample_clip() -> bytes:
    from mockserver.runtime.samples import sample

    found = sample("mine.mp4")
    assert found is not None
    return found[0]


@pytest.mark.slow
def test_fal_client_over_exposed_tls_port(tmp_path: Path) -> None:
    """fal-client configured only by environment: FAL_QUEUE_RUN_HOST and SSL_CERT_FILE."""
    main, queue = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "mockserver.cli",
        "serve",
        "--port",
        str(main),
        "--state-dir",
        str(tmp_path),
        "--store",
        "memory",
        "--progression",
        "polls",
        "--expose",
        f"fal-queue={queue}",
        "--tls",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as server:
        try:
            banner = read_banner(server, until="SSL_CERT_FILE=")
            cert = banner.split("SSL_CERT_FILE=")[1].split()[0]
            script = (
                "import fal_client\n"
                "r = fal_client.subscribe('pixelcut/video-background-removal', "
                "arguments={'video_url': 'https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4'})\n"
                "print(r['video']['content_type'])\n"
            )
            env = {
                **os.environ,
                "FAL_KEY": "fal-key",
                "FAL_QUEUE_RUN_HOST": f"127.0.0.1:{queue}",
                "SSL_CERT_FILE": cert,
            }
            done = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == "video/webm"
        finally:
            server.terminate()
            server.wait(10)
