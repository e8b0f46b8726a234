"""The dashboard driven in Chromium against a live mock: jobs of every provider appear and move
live, a job's page shows its input and cut-out, the journal filters and copies as curl, a webhook
is replayed, a fault is added and removed, and the clock is moved, all from the browser."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from contracts._receiver import WebhookReceiver
from mockserver.app import create_app
from mockserver.settings import Settings
from tests.browser.conftest import VIEWPORT, screenshot
from tests.server.live import running

FAL = {"Authorization": "Key fal-dash"}
PIXELCUT = {"X-API-KEY": "pc-dash"}
PIXAZO = {"Ocp-Apim-Subscription-Key": "pz-dash"}
PIXELAPI = {"Authorization": "Bearer pa-dash", "User-Agent": "dashboard-test/1.0"}
PIXAZO_SUBMIT = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
CLIP = "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/tiny.mp4"  # a generated sample (runtime/samples.py)
PHOTO = "https://example.com/person.png"

# The mock's states in each provider's own words, as its status endpoint answers them.
WORDS = {
    "fal": {"queued": "IN_QUEUE", "running": "IN_PROGRESS", "succeeded": "COMPLETED"},
    "pixelcut": {"queued": "pending", "running": "running", "succeeded": "completed"},
    "pixazo": {"queued": "QUEUED", "running": "PROCESSING", "succeeded": "COMPLETED"},
    "pixelapi": {"queued": "queued", "running": "processing", "succeeded": "completed"},
}


def submit(api: httpx.Client, *providers: str, webhook: str | None = None) -> dict[str, str]:
    """One job for each of `providers` (every one by default: videos for three, a photo for PixelAPI);
    their ids by provider."""
    params = {"fal_webhook": webhook} if webhook else {}
    video = {"video_url": CLIP}
    webm = {**video, "background": "transparent", "output_format": "webm_vp9"}
    requests = {
        "fal": ("/fal/queue/pixelcut/video-background-removal", video, FAL, "request_id"),
        "pixelcut": ("/pixelcut/v1/video/remove-background", video, PIXELCUT, "job_id"),
        "pixazo": (PIXAZO_SUBMIT, webm, PIXAZO, "request_id"),
        "pixelapi": ("/pixelapi/v1/image/remove-background", {"image_url": PHOTO}, PIXELAPI, "generation_id"),
    }
    ids = {}
    for provider in providers or tuple(requests):
        path, body, headers, id_field = requests[provider]
        answer = api.post(path, params=params if provider == "fal" else {}, json=body, headers=headers)
        assert answer.status_code in (200, 201, 202), answer.text
        ids[provider] = answer.json()[id_field]
    return ids


def advance(api: httpx.Client, seconds: float) -> None:
    assert api.post("/__mock/clock", json={"advance": seconds}).status_code == 200


def rows_show(page: Any, ids: dict[str, str], state: str) -> None:
    """Wait (bounded) until every job's row shows `state`, in its provider's word."""
    for provider, job_id in ids.items():
        cell = page.locator(f'tr[data-job="{job_id}"][data-state="{state}"] .status')
        cell.wait_for()
        assert cell.inner_text() == WORDS[provider][state]


def test_jobs_of_every_provider_appear_and_move_live(page: Any, api: httpx.Client) -> None:
    page.goto("/__mock/ui/jobs")
    page.wait_for_selector("body[data-live=on]")  # the event stream is open
    page.evaluate("window.untouched = true")  # gone if the page reloads: every change below is live
    ids = submit(api)
    rows_show(page, ids, "queued")
    advance(api, 0.6)  # past the queue time: running
    rows_show(page, ids, "running")
    advance(api, 5)  # past the run time: done
    rows_show(page, ids, "succeeded")
    assert page.evaluate("window.untouched") is True
    assert page.locator("tr[data-job]").count() == 4
    screenshot(page, "jobs")


def _shot(locator: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), dtype=np.int16)


def test_a_jobs_page_shows_its_input_and_cutout_over_a_checkerboard(page: Any, api: httpx.Client) -> None:
    ids = submit(api, "pixelapi", "pixazo")
    advance(api, 10)
    assert api.get(f"/pixelapi/v1/image/{ids['pixelapi']}", headers=PIXELAPI).json()["status"] == "completed"
    page.goto(f"/__mock/ui/jobs/pixelapi/{ids['pixelapi']}")
    status = page.locator("#job-status")
    assert status.inner_text() == "completed"
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(f"({loaded})(document.querySelector('#job-input img'))")
    page.wait_for_function(f"({loaded})(document.querySelector('#job-output img'))")
    before, after = _shot(page.locator("#job-input img")), _shot(page.locator("#job-output img"))
    assert before.shape == after.shape
    changed = np.abs(before - after).max(axis=2) > 12
    # The backdrop became the checkerboard; the person stayed: some of the picture changed, not all.
    assert 0.2 < changed.mean() < 0.9, changed.mean()
    assert not changed[before.shape[0] // 2, before.shape[1] // 2 - 20 : before.shape[1] // 2 + 20].any()  # the body
    corner = after[4:40, 4:40].reshape(-1, 3)
    assert len({tuple(p) for p in corner}) >= 2  # the checkerboard's two squares show through
    assert len({tuple(p) for p in before[4:40, 4:40].reshape(-1, 3)}) == 1  # where the input's backdrop was plain
    page.locator("#job-requests details.entry").nth(1).wait_for()  # its submit (the id is in the answer) and poll
    touched = page.locator("#job-requests summary").all_inner_texts()
    assert len(touched) == 2 and "/v1/image/remove-background" in touched[0] and ids["pixelapi"] in touched[1]
    screenshot(page, "job")
    # A WebM cut-out plays in the page's <video>.
    page.goto(f"/__mock/ui/jobs/pixazo/{ids['pixazo']}")
    video = page.locator("#job-output video")
    page.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0", arg=video.element_handle())
    assert page.locator("#job-input video").count() == 1  # the input clip, its first frame


def test_the_journal_filters_and_copies_a_request_as_curl(page: Any, api: httpx.Client) -> None:
    submit(api, "pixelapi")
    assert api.get("/fal/queue/pixelcut/video-background-removal/requests/nope/status", headers=FAL).status_code == 404
    assert api.get("/pixelcut/v1/credits", headers={"X-API-KEY": ""}).status_code == 401
    page.goto("/__mock/ui/journal")
    page.locator("#journal details.entry").nth(2).wait_for()
    assert page.locator("#journal details.entry").count() == 3
    page.select_option("select[name=provider]", "fal")
    page.click("#journal-filter button[type=submit]")
    only_fal = "e => e.length > 0 && [...e].every(x => x.dataset.provider === 'fal')"
    page.wait_for_function(f"({only_fal})(document.querySelectorAll('#journal details.entry'))")
    assert "provider=fal" in page.url  # the filter is in the address, to share or reload
    page.select_option("select[name=provider]", "")
    page.fill("input[name=status]", "4xx")
    page.click("#journal-filter button[type=submit]")
    statuses = "[...document.querySelectorAll('#journal details.entry')].map(e => e.dataset.status).join()"
    page.wait_for_function(f"{statuses} === '404,401'")  # every 4xx, oldest first
    page.fill("input[name=status]", "401")
    page.click("#journal-filter button[type=submit]")
    page.wait_for_function(f"{statuses} === '401'")
    entry = page.locator("#journal details.entry").first
    assert entry.get_attribute("data-status") == "401"
    entry.locator("summary").click()
    entry.locator("button.copy-curl").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("curl -X GET ") and "/pixelcut/v1/credits" in copied
    screenshot(page, "journal")


def test_a_webhook_is_delivered_and_replayed_from_the_page(page: Any, api: httpx.Client) -> None:
    with WebhookReceiver() as receiver:
        ids = submit(api, "fal", webhook=receiver.url)
        advance(api, 10)
        page.goto("/__mock/ui/webhooks")
        delivery = page.locator(f'article[data-delivery] >> text="{ids["fal"]}"')
        delivery.wait_for()
        page.click("button[data-action=flush]")
        page.wait_for_function("document.querySelector('article[data-delivery] caption').textContent === '1 attempt'")
        assert len(receiver.deliveries) == 1
        page.click("article[data-delivery] button.replay")
        page.wait_for_function("document.querySelector('article[data-delivery] caption').textContent === '2 attempts'")
        assert len(receiver.deliveries) == 2
        assert "replay" in page.locator("article[data-delivery] tbody").inner_text()
        sent = page.locator("article[data-delivery] details.sent summary").first.inner_text()
        assert "x-fal-webhook-signature" in sent.lower()  # fal's signature headers, as they were sent
        [listed] = api.get("/__mock/webhooks").json()["deliveries"]
        assert [a.get("replay", False) for a in listed["attempts"]] == [False, True]
        sent = {k.lower(): v for k, v in listed["attempts"][0]["headers"].items()}
        assert sent["x-fal-webhook-signature"].startswith("redacted:")  # shown as the journal shows keys
        assert sent["content-type"] == "application/json"
        screenshot(page, "webhooks")


def test_controls_add_and_remove_a_fault_and_move_the_clock(page: Any, api: httpx.Client) -> None:
    page.goto("/__mock/ui/controls")
    page.locator("#faults p.empty").wait_for()
    page.select_option("#fault-scenario", "rate-limited")
    page.select_option("#fault-provider", "pixelcut")
    page.click("#fault-add button[type=submit]")
    page.locator("#faults tr[data-rule]").wait_for()
    [rule] = api.get("/__mock/faults").json()["rules"]
    assert (rule["action"], rule["status"], rule["provider"]) == ("status", 429, "pixelcut")
    assert api.get("/pixelcut/v1/credits", headers=PIXELCUT).status_code == 429
    page.click(f'#faults tr[data-rule="{rule["id"]}"] button')
    page.locator("#faults p.empty").wait_for()
    assert api.get("/__mock/faults").json()["rules"] == []
    assert api.get("/pixelcut/v1/credits", headers=PIXELCUT).status_code == 200
    # The status list offers the errors the provider's spec documents for the chosen operation.
    page.select_option("#fault-operation", "video-remove-background-job-status")
    offered = page.locator("#fault-status option").all_inner_texts()
    assert offered[0] == "(default)" and [o.split()[0] for o in offered[1:]] == ["401", "404", "429", "500"]
    page.select_option("#fault-operation", "remove-background")
    assert "403 Insufficient credits." in page.locator("#fault-status option").all_inner_texts()
    # The clock: advance by 30 s from the form, then let it run and freeze it again.
    before = api.get("/__mock/clock").json()["now"]
    page.fill("#clock-advance input[name=advance]", "30")
    page.click("#clock-advance button")
    page.wait_for_function("document.getElementById('answer').textContent.includes('POST /__mock/clock → 200')")
    assert api.get("/__mock/clock").json()["now"] == before + 30
    page.click("#clock-real button")
    page.wait_for_function("document.getElementById('answer').textContent.includes('/__mock/clock/real → 200')")
    assert api.get("/__mock/clock").json()["clock"] == "real"
    page.click("#clock-freeze button")
    page.wait_for_function("document.getElementById('answer').textContent.includes('/__mock/clock/freeze → 200')")
    assert api.get("/__mock/clock").json()["clock"] == "virtual"
    # An account's balance, set from the form.
    page.select_option("#account-put select[name=provider]", "pixelcut")
    page.fill("#account-put input[name=key]", "pc-dash")
    page.fill("#account-put input[name=balance]", "7")
    page.click("#account-put button")
    balance = "document.querySelector('#accounts tr[data-account=\"pixelcut/pc-dash\"] td:nth-child(3)')"
    page.wait_for_function(f"{balance} && {balance}.textContent === '7'")
    assert api.get("/__mock/accounts/pixelcut/pc-dash").json()["balance"] == 7
    screenshot(page, "controls")


def test_pages_are_readable_in_the_dark_and_at_200_percent(browser: Any, base_url: str, api: httpx.Client) -> None:
    """Dark scheme colours apply, and at 200 % zoom (a 640 px-wide viewport at scale 2) nothing
    overflows sideways and the navigation is reachable by keyboard."""
    context = browser.new_context(
        viewport={"width": 640, "height": 900}, device_scale_factor=2, color_scheme="dark", base_url=base_url
    )
    try:
        page = context.new_page()
        for name in ("jobs", "journal", "webhooks", "controls"):
            page.goto(f"/__mock/ui/{name}")
            wide = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert wide, f"{name} scrolls sideways at 200 %"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(22, 24, 27)"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "/__mock/ui/jobs"
        screenshot(page, "controls-dark-200")
    finally:
        context.close()


def test_under_a_control_token_the_banners_link_opens_it_and_actions_carry_the_token(
    browser: Any, tmp_path: Path
) -> None:
    settings = Settings.for_tests(state_dir=tmp_path, control_token="t0ken")
    with running(create_app(settings)) as url:
        context = browser.new_context(viewport=VIEWPORT, base_url=url)
        try:
            page = context.new_page()
            page.goto("/__mock/ui/controls?token=t0ken")
            assert page.url == f"{url}/__mock/ui/controls"  # the token left the address bar for a cookie
            page.locator("#faults p.empty").wait_for()  # the page's own GETs were let in
            page.wait_for_selector("body[data-live=on]")  # and its event stream, by the cookie
            page.select_option("#fault-scenario", "server-error")
            page.click("#fault-add button[type=submit]")
            page.locator("#faults tr[data-rule]").wait_for()
            with httpx.Client(base_url=url, headers={"Authorization": "Bearer t0ken"}) as api:
                assert [r["status"] for r in api.get("/__mock/faults").json()["rules"]] == [500]
        finally:
            context.close()
