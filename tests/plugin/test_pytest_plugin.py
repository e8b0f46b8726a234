"""The pytest plugin as a user meets it: test files run by pytester with only the fixtures."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

FAL_CLIENT = """
import fal_client
import pytest

APP = "pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("FAL_KEY", "fal-plugin")


def test_sync_subscribe_submit_status_result_cancel(cutout_mock, tmp_path):
    updates = []
    result = fal_client.subscribe(APP, arguments={"video_url": SAMPLE}, with_logs=True, on_queue_update=updates.append)
    assert result["video"]["content_type"] == "video/webm"
    assert any(isinstance(u, fal_client.InProgress) for u in updates)
    handle = fal_client.submit(APP, arguments={"video_url": SAMPLE, "background": "green"})
    assert isinstance(fal_client.status(APP, handle.request_id), fal_client.Queued)
    output = handle.get()
    assert output["video"]["content_type"] == "video/mp4"
    assert fal_client.result(APP, handle.request_id) == output
    late = fal_client.submit(APP, arguments={"video_url": SAMPLE})
    fal_client.cancel(APP, late.request_id)
    [job] = cutout_mock.control.list_jobs(provider="fal", state="cancelled")
    assert job["id"] == late.request_id
    clip = tmp_path / "mine.gif"
    clip.write_bytes(cutout_mock.control.get_sample("mine.gif"))
    url = fal_client.upload_file(clip)
    assert url.startswith("https://v3.fal.media/")


async def test_async_subscribe_submit_status_result_cancel(cutout_mock):
    result = await fal_client.subscribe_async(APP, arguments={"video_url": SAMPLE})
    assert result["video"]["url"].startswith("https://v3.fal.media/")
    handle = await fal_client.submit_async(APP, arguments={"video_url": SAMPLE})
    assert isinstance(await fal_client.status_async(APP, handle.request_id), fal_client.Queued)
    assert (await handle.get())["video"]["content_type"] == "video/webm"
    assert await fal_client.result_async(APP, handle.request_id) == await handle.get()
    late = await fal_client.submit_async(APP, arguments={"video_url": SAMPLE})
    await fal_client.cancel_async(APP, late.request_id)


def test_state_is_reset_between_tests(cutout_mock):
    assert cutout_mock.control.list_jobs() == []
"""


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nanyio_backend = asyncio\n")
    return pytester.runpytest_inprocess("-p", "anyio", "-q", *args)


def test_fal_client_works_unmodified_with_only_the_fixture(pytester: pytest.Pytester) -> None:
    source = FAL_CLIENT.replace("async def test_", "@pytest.mark.anyio\nasync def test_")
    result = _run(
        pytester, source, "-W", "ignore::pytest.PytestUnraisableExceptionWarning", "-W", "ignore::ResourceWarning"
    )
    result.assert_outcomes(passed=3)


def test_plain_httpx_against_real_hosts_with_the_clock_and_faults(pytester: pytest.Pytester) -> None:
    source = """
import httpx
import pytest

KEY = {"X-API-KEY": "sk_plugin"}


@pytest.mark.cutout(provider="pixelcut", progression="timed")
def test_video_job_follows_the_clock(cutout_mock):
    base = cutout_mock.base_url()
    assert base == "https://api.developer.pixelcut.ai"
    with httpx.Client(base_url=base, headers=KEY) as http:
        job = http.post("/v1/video/remove-background", json={"video_url": "https://cdn3.pixelcut.app/a/sample.mp4"})
        assert job.status_code == 202
        status = f"/v1/video/remove-background/job/{job.json()['job_id']}"
        assert http.get(status).json()["status"] == "pending"
        cutout_mock.advance(60)
        done = http.get(status).json()
        assert done["status"] == "completed"
        video = httpx.get(done["result_url"])  # the result host is intercepted too
        assert video.status_code == 200 and len(video.content) > 1000


@pytest.mark.cutout(scenario={"faults": [{"provider": "pixelcut", "action": "status", "status": 503, "times": 1}]})
def test_scenario_from_the_marker(cutout_mock):
    with httpx.Client(base_url="https://api.developer.pixelcut.ai", headers=KEY) as http:
        assert http.get("/v1/credits").status_code == 503
        assert http.get("/v1/credits").status_code == 200


@pytest.mark.cutout(rate_limits=True)
def test_rate_limits_on_request(cutout_mock):
    with httpx.Client(base_url="https://api.developer.pixelcut.ai", headers=KEY) as http:
        codes = [http.get("/v1/credits").status_code for _ in range(8)]
    assert 429 in codes


def test_other_hosts_pass_through(cutout_mock, webhook_receiver):
    assert httpx.post(webhook_receiver.url, json={"hello": 1}).status_code == 200
    assert webhook_receiver.deliveries[0].json() == {"hello": 1}
"""
    _run(pytester, source).assert_outcomes(passed=4)


def test_cutout_server_and_webhook_receiver_with_requests(pytester: pytest.Pytester) -> None:
    source = """
import requests


def test_pixazo_webhook_through_a_real_port(cutout_server, webhook_receiver):
    base = cutout_server.base_url("pixazo")
    headers = {"Ocp-Apim-Subscription-Key": "pz-plugin", "X-Webhook-URL": webhook_receiver.url}
    body = {"video_url": "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/Video.mp4"}
    job = requests.post(base + "/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request",
                        json=body, headers=headers).json()
    for _ in range(3):
        status = requests.get(job["polling_url"], headers=headers).json()
    assert status["status"] == "COMPLETED"
    cutout_server.advance(10)
    [delivery] = webhook_receiver.deliveries
    assert delivery.json()["request_id"] == job["request_id"]
    assert delivery.json()["status"] == "COMPLETED"
"""
    _run(pytester, source).assert_outcomes(passed=1)


def test_a_bad_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    source = """
import pytest

@pytest.mark.cutout(clock="sundial")
def test_x(cutout_mock):
    pass
"""
    result = _run(pytester, source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*clock must be one of*"])


def test_the_marker_chooses_the_engine(pytester: pytest.Pytester) -> None:
    """A cluttered photo: classic takes clutter for the subject, the default (auto) finds it."""
    source = """
import base64, io

import httpx
import numpy as np
import pytest
from PIL import Image

from mockserver.engine.metrics import iou
from mockserver.engine.synth import make_image

SAMPLE = make_image(1008, (256, 256), background="clutter")


def cut_out():
    png = io.BytesIO()
    Image.fromarray(SAMPLE.rgb).save(png, "PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    with httpx.Client(base_url="https://api.developer.pixelcut.ai", headers={"X-API-KEY": "sk_engine"}) as http:
        r = http.post("/v1/remove-background", json={"image_url": url}, headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)))[..., 3] / 255


@pytest.mark.cutout(engine="classic")
def test_classic(cutout_mock):
    assert iou(cut_out(), SAMPLE.alpha) < 0.5


def test_default_is_auto(cutout_mock):
    assert iou(cut_out(), SAMPLE.alpha) > 0.9


@pytest.mark.cutout(engine="u2netp")
def test_u2netp(cutout_mock):
    assert iou(cut_out(), SAMPLE.alpha) > 0.9


@pytest.mark.cutout(engine="u2net")
def test_unknown(cutout_mock):
    pass
"""
    result = _run(pytester, source)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*engine must be one of*"])
