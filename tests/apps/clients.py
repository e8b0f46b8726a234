"""Sample clients, the way teams write them: good ones and deliberately broken ones.

Each is ``run(base_url, api_key) -> output URL`` for one provider. ``GOOD`` must pass the client
verifier; each entry of ``BROKEN`` must be caught, with the words of the property it breaks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import fal_client
import httpx
import requests

TINY_VIDEO = "https://cdn3.pixelcut.app/samples/tiny.mp4"
IMAGE = "https://example.com/product.jpg"
UA = {"User-Agent": "sample-client/1.0"}


class JobFailed(RuntimeError):
    pass


def backoff(start: float = 1.0, cap: float = 30.0) -> Iterator[float]:
    delay = start
    while True:
        yield delay
        delay = min(delay * 2, cap)


def _wait(response: requests.Response | httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else default


def get_with_retries(http: Any, url: str, attempts: int = 8, ignore_retry_after: bool = False) -> Any:
    """GET, waiting out 429 (Retry-After) and 5xx (backoff); anything else is returned."""
    delays = backoff()
    for _ in range(attempts):
        response = http.get(url)
        if response.status_code == 429 or response.status_code >= 500:
            time.sleep(0.5 if ignore_retry_after else _wait(response, next(delays)))
            continue
        return response
    raise JobFailed(f"{url}: still failing after {attempts} attempts")


# --- good clients ---------------------------------------------------------------------------------


def pixelcut_good(base_url: str, api_key: str) -> str:
    """requests, as Pixelcut's docs show it."""
    with requests.Session() as http:
        http.headers.update({"X-API-KEY": api_key})
        submit = http.post(f"{base_url}/v1/video/remove-background", json={"video_url": TINY_VIDEO})
        if submit.status_code != 202:
            raise JobFailed(f"submit refused: {submit.status_code} {submit.text}")
        status_url = f"{base_url}/v1/video/remove-background/job/{submit.json()['job_id']}"
        for delay in backoff():
            body = get_with_retries(http, status_url).json()
            if body["status"] == "completed":
                return str(body["result_url"])
            if body["status"] == "failed":
                raise JobFailed(str(body.get("error")))
            time.sleep(delay)
    raise AssertionError("unreachable")


def fal_good(base_url: str, api_key: str) -> str:
    """httpx against the queue: status until COMPLETED, then the result (which may be an error)."""
    with httpx.Client(headers={"Authorization": f"Key {api_key}"}, timeout=30) as http:
        submit = http.post(f"{base_url}/pixelcut/video-background-removal", json={"video_url": TINY_VIDEO})
        if submit.status_code != 200:
            raise JobFailed(f"submit refused: {submit.status_code} {submit.text}")
        job = submit.json()
        for delay in backoff():
            if get_with_retries(http, job["status_url"]).json()["status"] == "COMPLETED":
                break
            time.sleep(delay)
        result = get_with_retries(http, job["response_url"])
        if result.status_code != 200:
            raise JobFailed(f"the request ended in error: {result.text}")
        return str(result.json()["video"]["url"])


def pixazo_good(base_url: str, api_key: str) -> str:
    with requests.Session() as http:
        http.headers.update({"Ocp-Apim-Subscription-Key": api_key})
        path = "/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
        submit = http.post(base_url + path, json={"video_url": TINY_VIDEO})
        if submit.status_code >= 400:
            raise JobFailed(f"submit refused: {submit.status_code} {submit.text}")
        for delay in backoff():
            body = get_with_retries(http, submit.json()["polling_url"]).json()
            if body["status"] == "COMPLETED":
                return str(body["output"]["media_url"][0])
            if body["status"] in ("FAILED", "ERROR"):
                raise JobFailed(str(body.get("error")))
            time.sleep(delay)
    raise AssertionError("unreachable")


async def pixelapi_good(base_url: str, api_key: str) -> str:
    """An async client (httpx.AsyncClient, asyncio.sleep)."""
    headers = {"Authorization": f"Bearer {api_key}", **UA}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        submit = await http.post(f"{base_url}/v1/image/remove-background", json={"image_url": IMAGE})
        if submit.status_code != 200:
            raise JobFailed(f"submit refused: {submit.status_code} {submit.json().get('detail')}")
        url = f"{base_url}/v1/image/{submit.json()['generation_id']}"
        delays = backoff()
        while True:
            response = await http.get(url)
            if response.status_code == 429 or response.status_code >= 500:
                await asyncio.sleep(_wait(response, next(delays)))
                continue
            body = response.json()
            if body["status"] == "completed":
                return str(body["output_url"])
            if body["status"] in ("failed", "blocked"):
                raise JobFailed(str(body.get("error_message") or body["status"]))
            await asyncio.sleep(next(delays))


def pixazo_every_second(base_url: str, api_key: str) -> str:
    """The plainest poller: every second, no backoff (the verifier's defaults must pass it through a
    five-minute queue: ~320 requests)."""
    with requests.Session() as http:
        http.headers.update({"Ocp-Apim-Subscription-Key": api_key})
        path = "/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
        submit = http.post(base_url + path, json={"video_url": TINY_VIDEO})
        if submit.status_code >= 400:
            raise JobFailed(f"submit refused: {submit.status_code} {submit.text}")
        while True:
            body = get_with_retries(http, submit.json()["polling_url"]).json()
            if body["status"] == "COMPLETED":
                return str(body["output"]["media_url"][0])
            if body["status"] in ("FAILED", "ERROR"):
                raise JobFailed(str(body.get("error")))
            time.sleep(1)


def pixelapi_in_a_pool(base_url: str, api_key: str) -> str:
    """The async client run by a pool's worker thread while this thread waits on the future (as an app
    that keeps its request thread free does): the sleeps happen in the worker."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, pixelapi_good(base_url, api_key)).result()


def pixelcut_in_a_thread(base_url: str, api_key: str) -> str:
    """The requests client polling in a thread of its own (threading.Thread), joined by this one."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["url"] = pixelcut_good(base_url, api_key)
        except Exception as problem:
            outcome["error"] = problem

    worker = threading.Thread(target=work, name="pixelcut-poller")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return str(outcome["url"])


def fal_client_with_timeout(base_url: str, api_key: str) -> str:
    """fal-client as it is, calling https://queue.fal.run (the verifier answers that host from the mock),
    polling every second; `client_timeout` makes it poll in its own pool thread while this one waits."""
    client = fal_client.SyncClient(key=api_key)
    arguments = {"video_url": TINY_VIDEO}
    result = client.subscribe(
        "pixelcut/video-background-removal", arguments=arguments, interval=1.0, client_timeout=600
    )
    return str(result["video"]["url"])


def pixelcut_waits_on_an_event(base_url: str, api_key: str) -> str:
    """Waits between polls with threading.Event.wait, in real time: the kit cannot follow that wait."""
    pause = threading.Event()
    with requests.Session() as http:
        http.headers.update({"X-API-KEY": api_key})
        submit = http.post(f"{base_url}/v1/video/remove-background", json={"video_url": TINY_VIDEO})
        status_url = f"{base_url}/v1/video/remove-background/job/{submit.json()['job_id']}"
        while True:
            body = get_with_retries(http, status_url).json()
            if body["status"] == "completed":
                return str(body["result_url"])
            if body["status"] == "failed":
                raise JobFailed(str(body.get("error")))
            pause.wait(0.3)


# --- broken clients -------------------------------------------------------------------------------


def pixelapi_ignores_retry_after(base_url: str, api_key: str) -> str:
    """Retries a 429 after half a second, whatever Retry-After says."""
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}", **UA}, timeout=30) as http:
        submit = http.post(f"{base_url}/v1/image/remove-background", json={"image_url": IMAGE})
        if submit.status_code != 200:
            raise JobFailed(submit.text)
        url = f"{base_url}/v1/image/{submit.json()['generation_id']}"
        for delay in backoff():
            body = get_with_retries(http, url, ignore_retry_after=True).json()
            if body["status"] == "completed":
                return str(body["output_url"])
            if body["status"] in ("failed", "blocked"):
                raise JobFailed(body["status"])
            time.sleep(delay)
    raise AssertionError("unreachable")


def pixazo_failed_as_pending(base_url: str, api_key: str) -> str:
    """Knows only COMPLETED: FAILED and ERROR look like 'not yet', so it polls forever."""
    with requests.Session() as http:
        http.headers.update({"Ocp-Apim-Subscription-Key": api_key})
        path = "/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
        submit = http.post(base_url + path, json={"video_url": TINY_VIDEO})
        if submit.status_code >= 400:
            raise JobFailed(submit.text)
        while True:
            body = get_with_retries(http, submit.json()["polling_url"]).json()
            if body["status"] == "COMPLETED":
                return str(body["output"]["media_url"][0])
            time.sleep(5)


def pixelcut_polls_without_sleeping(base_url: str, api_key: str) -> str:
    """A tight loop on the status endpoint."""
    with requests.Session() as http:
        http.headers.update({"X-API-KEY": api_key})
        submit = http.post(f"{base_url}/v1/video/remove-background", json={"video_url": TINY_VIDEO})
        if submit.status_code != 202:
            raise JobFailed(submit.text)
        status_url = f"{base_url}/v1/video/remove-background/job/{submit.json()['job_id']}"
        while True:
            body = get_with_retries(http, status_url).json()
            if body["status"] == "completed":
                return str(body["result_url"])
            if body["status"] == "failed":
                raise JobFailed(str(body.get("error")))


def fal_drops_the_error(base_url: str, api_key: str) -> str | None:
    """Reads `video.url` from whatever the result endpoint says: an errored request returns None."""
    with httpx.Client(headers={"Authorization": f"Key {api_key}"}, timeout=30) as http:
        submit = http.post(f"{base_url}/pixelcut/video-background-removal", json={"video_url": TINY_VIDEO})
        if submit.status_code != 200:
            raise JobFailed(submit.text)
        job = submit.json()
        for delay in backoff():
            if get_with_retries(http, job["status_url"]).json()["status"] == "COMPLETED":
                break
            time.sleep(delay)
        return get_with_retries(http, job["response_url"]).json().get("video", {}).get("url")


def pixelapi_gives_up_on_5xx(base_url: str, api_key: str) -> str:
    """Treats any 5xx on the status endpoint as the job failing."""
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}", **UA}, timeout=30) as http:
        submit = http.post(f"{base_url}/v1/image/remove-background", json={"image_url": IMAGE})
        if submit.status_code != 200:
            raise JobFailed(submit.text)
        url = f"{base_url}/v1/image/{submit.json()['generation_id']}"
        for delay in backoff():
            response = http.get(url)
            if response.status_code == 429:
                time.sleep(_wait(response, delay))
                continue
            response.raise_for_status()
            body = response.json()
            if body["status"] == "completed":
                return str(body["output_url"])
            if body["status"] in ("failed", "blocked"):
                raise JobFailed(body["status"])
            time.sleep(delay)
    raise AssertionError("unreachable")


def pixazo_strict_parsing(base_url: str, api_key: str) -> str:
    """Refuses any field it was not written for (breaks the day the gateway adds one)."""
    known = {"request_id", "status", "model_id", "error", "output", "created_at", "updated_at", "completed_at"}
    with requests.Session() as http:
        http.headers.update({"Ocp-Apim-Subscription-Key": api_key})
        path = "/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
        submit = http.post(base_url + path, json={"video_url": TINY_VIDEO})
        if submit.status_code >= 400:
            raise JobFailed(submit.text)
        for delay in backoff():
            body = get_with_retries(http, submit.json()["polling_url"]).json()
            unknown = set(body) - known
            if unknown:
                raise ValueError(f"unexpected fields {unknown}")
            if body["status"] == "COMPLETED":
                return str(body["output"]["media_url"][0])
            if body["status"] in ("FAILED", "ERROR"):
                raise JobFailed(str(body.get("error")))
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Sample:
    run: Callable[[str, str], Any]
    provider: str
    caught_as: str = ""  # words of the failure report that name the broken property


GOOD = {
    "pixelcut_good": Sample(pixelcut_good, "pixelcut"),
    "fal_good": Sample(fal_good, "fal"),
    "pixazo_good": Sample(pixazo_good, "pixazo"),
    "pixelapi_good": Sample(pixelapi_good, "pixelapi"),
    "pixazo_every_second": Sample(pixazo_every_second, "pixazo"),
    "pixelapi_in_a_pool": Sample(pixelapi_in_a_pool, "pixelapi"),
    "pixelcut_in_a_thread": Sample(pixelcut_in_a_thread, "pixelcut"),
}
BROKEN = {
    "pixelapi_ignores_retry_after": Sample(pixelapi_ignores_retry_after, "pixelapi", "ignored Retry-After"),
    "pixazo_failed_as_pending": Sample(pixazo_failed_as_pending, "pixazo", "unbounded"),
    "pixelcut_polls_without_sleeping": Sample(pixelcut_polls_without_sleeping, "pixelcut", "minimum 0.25s"),
    "fal_drops_the_error": Sample(fal_drops_the_error, "fal", "for a job that did not succeed"),
    "pixelapi_gives_up_on_5xx": Sample(pixelapi_gives_up_on_5xx, "pixelapi", "for a job that succeeded"),
    "pixazo_strict_parsing": Sample(pixazo_strict_parsing, "pixazo", "unexpected fields"),
}
