"""The dashboard's pages over HTTP, no browser needed: each page renders, a job's page words it as
its provider does, the live parts and the event stream answer, and nothing of it sits on a
provider's path (no middleware: a status poll never meets it)."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette

from mockserver.app import create_app
from mockserver.core.jobs import State
from mockserver.dashboard import routes
from mockserver.providers import PROVIDERS
from mockserver.settings import Settings

PIXELAPI = {"Authorization": "Bearer pa-pages", "User-Agent": "pages-test/1.0"}
PHOTO = "https://example.com/person.png"
CLIP = "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/tiny.mp4"  # a generated sample


async def _photo_job(client: httpx.AsyncClient) -> str:
    answer = await client.post("/pixelapi/v1/image/remove-background", json={"image_url": PHOTO}, headers=PIXELAPI)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["generation_id"])


@pytest.mark.anyio
@pytest.mark.parametrize("page", ["jobs", "journal", "webhooks", "controls"])
async def test_each_page_renders_with_its_navigation(client: httpx.AsyncClient, page: str) -> None:
    answer = await client.get(f"/__mock/ui/{page}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert '<html lang="en">' in html and '<main id="main"' in html and 'href="#main"' in html
    assert f'href="/__mock/ui/{page}" aria-current="page"' in html
    assert not re.findall(r'(?:src|href|action)="(?:https?:)?//', html)  # nothing from another host (no CDN)


@pytest.mark.anyio
async def test_home_leads_to_jobs_and_static_files_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/__mock/ui")).headers["location"] == "/__mock/ui/jobs"
    script = await client.get("/__mock/ui/static/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    style = await client.get("/__mock/ui/static/dashboard.css")
    assert "prefers-color-scheme: dark" in style.text


@pytest.mark.anyio
async def test_a_job_is_shown_in_its_providers_words_on_the_mock_clock(client: httpx.AsyncClient) -> None:
    job_id = await _photo_job(client)
    row = (await client.get("/__mock/ui/jobs?part=live")).text
    assert f'data-job="{job_id}" data-state="queued"' in row and 'data-word="queued"' in row
    page = (await client.get(f"/__mock/ui/jobs/pixelapi/{job_id}")).text
    assert "The output appears when the job is done." in page  # its output exists, but not for its client yet
    assert 'src="/__mock/samples/person.png"' in page  # the documented example host, loadable offline
    assert 'href="/__mock/ui/journal?provider=pixelapi&amp;key=pa-pages"' in page
    await client.post("/__mock/clock", json={"advance": 10})
    live = (await client.get(f"/__mock/ui/jobs/pixelapi/{job_id}?part=live")).text
    assert 'data-state="succeeded">completed</span>' in live
    assert '<img src="/pixelapi/outputs/' in live and 'class="checker"' in live
    assert [line.split("</strong>")[0].rsplit(">", 1)[1] for line in live.split("<li")[1:]] == [
        "queued",
        "processing",
        "completed",
    ]
    assert (await client.get("/__mock/ui/jobs/pixelapi/nope")).status_code == 404
    assert (await client.get("/__mock/ui/jobs/nobody/nope")).status_code == 404


def test_every_provider_words_every_state() -> None:
    for provider in PROVIDERS:
        words = {state: provider.vocabulary.status_word(state) for state in State}
        assert all(isinstance(word, str) and word for word in words.values()), provider.name
        assert words[State.QUEUED] != words[State.SUCCEEDED], provider.name


@pytest.mark.anyio
async def test_the_event_stream_says_when_a_job_changed(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "STREAM_SECONDS", 1.0)

    async def later() -> None:
        await asyncio.sleep(0.3)
        await _photo_job(client)

    submit = asyncio.create_task(later())
    stream = await client.get("/__mock/ui/events")
    await submit
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.text.startswith("retry: 500") and stream.text.count("event: change") == 1
    assert stream.text.endswith("event: bye\ndata: {}\n\n")


def test_the_dashboard_adds_no_middleware(app: Starlette) -> None:
    """Its routes sit beside the control plane's under /__mock; the middleware is the app's own."""
    assert not [m for m in app.user_middleware if "dashboard" in getattr(m.cls, "__module__", "")]


@pytest.mark.anyio
async def test_the_dashboard_keeps_to_the_control_planes_lock(tmp_path: Path) -> None:
    """Under --control-token a page needs the token (the banner's link carries it once, then a
    cookie does); a Host the mock does not serve is refused as /__mock refuses it."""
    app = create_app(Settings.for_tests(state_dir=tmp_path, control_token="s3cret"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        locked = await client.get("/__mock/ui/jobs")
        assert locked.status_code == 401 and "Dashboard locked" in locked.text and "s3cret" not in locked.text
        assert "/__mock/ui?token=&lt;the control token&gt;" in locked.text  # how to open it
        assert (await client.get("/__mock/ui/events")).status_code == 401
        assert (await client.get("/__mock/ui/jobs?token=wrong")).status_code == 401
        linked = await client.get("/__mock/ui/jobs?provider=fal&token=s3cret")
        assert linked.status_code == 303 and linked.headers["location"] == "/__mock/ui/jobs?provider=fal"
        assert "HttpOnly" in linked.headers["set-cookie"] and "SameSite=strict" in linked.headers["set-cookie"]
        page = await client.get("/__mock/ui/jobs?provider=fal")  # the cookie, from here on
        assert page.status_code == 200 and '<meta name="control-token" content="s3cret">' in page.text
        assert (await client.get("/__mock/ui/jobs", headers={"Host": "rebound.example"})).status_code == 403
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        bearer = await client.get("/__mock/ui/jobs", headers={"Authorization": "Bearer s3cret"})
        assert bearer.status_code == 200
    await app.state.mock.aclose()


@pytest.mark.anyio
async def test_a_webhook_urls_secrets_are_masked_as_the_control_plane_masks_them(client: httpx.AsyncClient) -> None:
    hook = "https://user:pw@hooks.example/h?token=abc123"
    headers = {"Ocp-Apim-Subscription-Key": "pz-pages", "X-Webhook-URL": hook}
    body = {"video_url": "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/tiny.mp4"}
    path = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
    job = (await client.post(path, json=body, headers=headers)).json()["request_id"]
    await client.post("/__mock/clock", json={"advance": 10})
    page = (await client.get(f"/__mock/ui/jobs/pixazo/{job}")).text
    assert "hooks.example/h" in page and "abc123" not in page and "pw@" not in page
    assert "webhook due" in page  # its delivery, due when the job ended, in the timeline


def test_serves_banner_prints_the_dashboards_link() -> None:
    from mockserver.server import base_urls

    rows = base_urls(Settings(host="127.0.0.1", port=8080))
    assert ("dashboard", "http://127.0.0.1:8080/__mock/ui") in rows
    assert rows[-1][0] == "control plane"  # still the banner's last line (scripts wait for it)


@pytest.mark.anyio
async def test_a_refunded_job_shows_what_it_was_charged_and_given_back(client: httpx.AsyncClient) -> None:
    job_id = await _photo_job(client)
    forced = await client.post(f"/__mock/jobs/pixelapi/{job_id}/state", json={"state": "failed"})
    assert (forced.json()["charged"], forced.json()["refunded"]) == (0, 2)  # PixelAPI refunds a failure
    page = (await client.get(f"/__mock/ui/jobs/pixelapi/{job_id}?part=live")).text
    assert '<dd id="job-credits">2 charged, 2 of it refunded;' in page


@pytest.mark.anyio
async def test_an_output_browsers_cannot_play_gets_its_first_frame_as_a_poster(client: httpx.AsyncClient) -> None:
    body = {"video_url": CLIP, "background": "transparent", "output_format": "mov_proresks"}
    path = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
    job = (await client.post(path, json=body, headers={"Ocp-Apim-Subscription-Key": "pz-poster"})).json()["request_id"]
    poster = f"/__mock/ui/poster/pixazo/{job}/0.png"
    assert (await client.get(poster)).status_code == 404  # not before its client can see the output
    await client.post("/__mock/clock", json={"advance": 10})
    page = (await client.get(f"/__mock/ui/jobs/pixazo/{job}?part=live")).text
    assert f'<img src="{poster}"' in page and "video/quicktime" in page
    answer = await client.get(poster)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    frame = np.asarray(Image.open(io.BytesIO(answer.content)))
    assert frame.shape[2] == 4 and (frame[..., 3] == 0).any() and (frame[..., 3] == 255).any()  # ProRes 4444's alpha


@pytest.mark.anyio
async def test_a_job_moved_by_polls_shows_the_polls_that_moved_it(tmp_path: Path) -> None:
    app = create_app(Settings.for_tests(state_dir=tmp_path, progression="polls"))  # the plugin's fixtures
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        job_id = await _photo_job(client)
        for _ in range(3):
            await client.get(f"/pixelapi/v1/image/{job_id}", headers=PIXELAPI)
        live = (await client.get(f"/__mock/ui/jobs/pixelapi/{job_id}?part=live")).text
    await app.state.mock.aclose()
    steps = [line.split("</li>")[0].split("</time> ", 1)[1] for line in live.split('<li class="reached">')[1:]]
    assert steps == [
        "<strong>queued</strong> submitted",
        "<strong>processing</strong> running: its 2nd poll",
        "<strong>completed</strong> succeeded: its 3rd poll",
    ]


@pytest.mark.anyio
async def test_a_missing_jobs_page_escapes_the_id_from_its_url(client: httpx.AsyncClient) -> None:
    answer = await client.get("/__mock/ui/jobs/fal/%3Cimg%20src=x%20onerror=alert(1)%3E")
    assert answer.status_code == 404
    assert "<img" not in answer.text and "&lt;img src=x onerror=alert(1)&gt;" in answer.text


@pytest.mark.anyio
async def test_an_expired_output_is_named_expired_not_shown_broken(client: httpx.AsyncClient) -> None:
    job_id = await _photo_job(client)
    await client.post("/__mock/clock", json={"advance": 10})
    live = (await client.get(f"/__mock/ui/jobs/pixelapi/{job_id}?part=live")).text
    url = re.search(r'<img src="(/pixelapi/outputs/[^"]+)"', live)
    assert url is not None and "expired at" not in live
    await client.post("/__mock/clock", json={"advance": 400 * 86400})  # past any provider's expiry (pixelapi: 410)
    assert (await client.get(url.group(1))).status_code == 410
    live = (await client.get(f"/__mock/ui/jobs/pixelapi/{job_id}?part=live")).text
    assert f'<img src="{url.group(1)}"' not in live and "expired at" in live
    assert "answers as the provider answers an expired file" in live


@pytest.mark.anyio
async def test_no_page_can_be_framed_by_another_site(client: httpx.AsyncClient) -> None:
    for path in ("/__mock/ui/jobs", "/__mock/ui/controls", "/__mock/ui/jobs/fal/nope"):
        headers = (await client.get(path)).headers
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
