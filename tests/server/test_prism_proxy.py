"""Responses checked against our specs by a tool we did not write: Prism 5 in proxy mode, with
``--errors``, in front of the mock, for each provider's documented flows (success, each ending, the
documented errors). Prism validates every request it forwards against the spec (a bad one is its own
422, never forwarded) and every response the mock gives back; with ``--errors`` a violation becomes
Prism's own error answer (``application/problem+json``) in place of the mock's.

Prism comes from npm into benchmarks/out/prism (where ``make bench`` puts it; installed here when
missing). Without node or npm the test is skipped, except under ``CUTOUT_MOCK_REQUIRE_NODE=1`` (CI).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from mockserver.app import create_app
from mockserver.runtime.samples import sample
from mockserver.settings import Settings
from tests.server.live import free_port, running

ROOT = Path(__file__).resolve().parents[2]
PRISM_DIR = ROOT / "benchmarks" / "out" / "prism"
PRISM = PRISM_DIR / "node_modules" / ".bin" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli@5"
KEYS = {
    "pixelcut": {"sk_good": {"balance": 100}, "sk_poor": {"balance": 0}},
    "pixazo": {"pz_good": {"balance": 10}, "pz_poor": {"balance": 0}},
    "pixelapi": {"pk_good": {"balance": 1000}, "pk_poor": {"balance": 1}},
    "fal": {"fal_good": {"balance": 10}},
}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prism() -> Path:
    """Prism's executable, installed from npm into benchmarks/out/prism on first use."""
    required = os.environ.get("CUTOUT_MOCK_REQUIRE_NODE") == "1"
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        if required:
            pytest.fail("CUTOUT_MOCK_REQUIRE_NODE=1 but node/npm is missing")
        pytest.skip("node and npm are needed for Prism")
    if not PRISM.is_file():
        PRISM_DIR.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(PRISM_DIR), PRISM_PACKAGE]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"npm install {PRISM_PACKAGE} failed: {done.stderr[-2000:]}"
    return PRISM


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The mock on a real port: strict keys (so a 401 is a valid request refused), a frozen clock."""
    state = tmp_path_factory.mktemp("prism-state")
    keys = state / "keys.json"
    keys.write_text(json.dumps(KEYS))
    with running(create_app(Settings.for_tests(state_dir=state, keys_file=keys))) as url:
        yield url


@contextmanager
def _proxy(prism: Path, spec: str, upstream: str, log: Path) -> Iterator[str]:
    """``prism proxy <spec> <upstream> --errors`` on a free port until the block ends."""
    port = free_port()
    command = [str(prism), "proxy", str(ROOT / "openapi" / spec), upstream, "--errors"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--verboseLevel", "warn"]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, f"prism exited: {log.read_text()[-2000:]}"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"prism did not listen within 90 s: {log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: node and what it forked
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def proxies(prism: Path, mock: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One Prism per spec, started together (each takes a few seconds to load)."""
    logs = tmp_path_factory.mktemp("prism-logs")
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(_proxy(prism, f"{name}.yaml", f"{mock}/{name}", logs / f"{name}.log"))
            for name in ("pixelcut", "pixazo", "pixelapi", "fal")
        }
        # A canary: Pixazo's spec over Pixelcut's answers must be reported, or the check proves nothing.
        urls["canary"] = stack.enter_context(_proxy(prism, "pixazo.yaml", f"{mock}/pixelcut", logs / "canary.log"))
        yield urls


class Through:
    """Requests through one Prism; every answer must be the mock's own (no violation reported)."""

    def __init__(self, base: str, mock: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base, headers=headers, timeout=60)
        self.control = httpx.Client(base_url=f"{mock}/__mock", timeout=30)
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, method: str, path: str, status: int, **kwargs: object) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        where = f"{method} {path}"
        assert "sl-violations" not in response.headers, (where, response.headers["sl-violations"])
        assert not response.headers.get("content-type", "").startswith("application/problem+json"), (
            where,
            response.text,
        )
        assert response.status_code == status, (where, response.status_code, response.text)
        self.seen.append((method, path, status))
        return response

    def advance(self, seconds: float) -> None:
        assert self.control.post("/clock", json={"advance": seconds}).status_code == 200

    def close(self) -> None:
        self.http.close()
        self.control.close()


@pytest.fixture
def through(proxies: dict[str, str], mock: str) -> Iterator[dict[str, Through]]:
    made = {
        "pixelcut": Through(proxies["pixelcut"], mock, {"X-API-KEY": "sk_good"}),
        "pixazo": Through(proxies["pixazo"], mock, {"Ocp-Apim-Subscription-Key": "pz_good"}),
        "pixelapi": Through(
            proxies["pixelapi"], mock, {"Authorization": "Bearer pk_good", "User-Agent": "PrismCheck/1.0"}
        ),
        "fal": Through(proxies["fal"], mock, {"Authorization": "Key fal_good"}),
    }
    yield made
    for client in made.values():
        client.close()


def _png(size: tuple[int, int] = (96, 128)) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 200, np.uint8)).save(out, "PNG")
    return out.getvalue()


def test_the_canary_is_caught(proxies: dict[str, str]) -> None:
    """A response that breaks the spec is reported: Pixazo's spec, Pixelcut's 404 body."""
    r = httpx.get(f"{proxies['canary']}/v2/requests/status/x", headers={"Ocp-Apim-Subscription-Key": "k"})
    assert r.status_code >= 500 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert "error_code" not in r.text


def test_pixelcut_flows(through: dict[str, Through]) -> None:
    go = through["pixelcut"]
    image = {"image_url": "https://example.com/product.jpg"}
    assert go("POST", "/v1/remove-background", 200, json=image).json()["result_url"]
    shadow = {**image, "shadow": {"opacity": 0.4, "light_source": {"size": 0.2, "position": {"x": 0.1, "y": -0.5}}}}
    go("POST", "/v1/remove-background", 200, json={**shadow, "crop": True, "margin": "5%"})
    png = go("POST", "/v1/remove-background", 200, json=image, headers={"Accept": "image/png"})
    assert png.headers["content-type"] == "image/png"  # (Prism's proxy re-encodes binary bodies as text)
    go("POST", "/v1/remove-background", 400, json={"image_url": "data:image/png;base64,AAAA"})  # malformed_image
    assert go("GET", "/v1/credits", 200).json()["credits"] < 100
    video = {"video_url": "https://example.com/clip.mp4", "background_color": "#00ff00", "output_format": "mp4_h264"}
    submitted = go("POST", "/v1/video/remove-background", 202, json=video)
    job = submitted.headers["location"]
    seen = []
    for step in (0, 0.6, 5):
        go.advance(step)
        seen.append(go("GET", job, 200).json()["status"])
    assert seen == ["pending", "running", "completed"]
    failed = go("POST", "/v1/video/remove-background", 202, json={"video_url": "https://example.com/mock-fail.mp4"})
    go.advance(5)
    assert go("GET", failed.headers["location"], 200).json()["error"]["error_code"]
    transparent = {"video_url": "https://example.com/clip.mp4", "background_color": "transparent"}
    assert go("POST", "/v1/video/remove-background", 400, json=transparent).json()["error_code"] == "invalid_parameter"
    go("GET", "/v1/video/remove-background/job/nope", 404)
    go("POST", "/v1/remove-background", 403, json=image, headers={"X-API-KEY": "sk_poor"})
    go("GET", "/v1/credits", 401, headers={"X-API-KEY": "sk_unknown"})


def test_prism_refuses_what_the_mock_refuses(through: dict[str, Through]) -> None:
    """The spec's own constraints, read by Prism, agree with the mock's checks (format: url, the
    light source's required position): Prism answers these itself, before the mock."""
    http = through["pixelcut"].http
    for path, body in (
        ("/v1/video/remove-background", {"video_url": "not a url"}),
        ("/v1/remove-background", {"image_url": "https://example.com/p.jpg", "shadow": {"light_source": {}}}),
    ):
        r = http.post(path, json=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text


def test_pixazo_flows(through: dict[str, Through]) -> None:
    go = through["pixazo"]
    submit = "/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
    doc = {"video_url": "https://example.com/Video.mp4", "background": "transparent", "output_format": "webm_vp9"}
    request_id = go("POST", submit, 202, json=doc, headers={"Cache-Control": "no-cache"}).json()["request_id"]
    words = []
    for step in (0, 0.6, 5):
        go.advance(step)
        words.append(go("GET", f"/v2/requests/status/{request_id}", 200).json()["status"])
    assert words == ["QUEUED", "PROCESSING", "COMPLETED"]
    assert go("POST", f"/v2/requests/status/{request_id}", 200).json()["output"]["media_url"]
    for magic, word in (("mock-fail", "FAILED"), ("mock-error", "ERROR")):
        rid = go("POST", submit, 202, json={"video_url": f"https://example.com/{magic}.mp4"}).json()["request_id"]
        go.advance(5)
        assert go("GET", f"/v2/requests/status/{rid}", 200).json()["status"] == word
    go("POST", submit, 400, json={"video_url": "https://example.com/v.mp4", "background": "custom"})
    go("GET", "/v2/requests/status/pixelcut-video-background-removal_nope", 404)
    go("POST", submit, 402, json=doc, headers={"Ocp-Apim-Subscription-Key": "pz_poor"})
    go("POST", submit, 401, json=doc, headers={"Ocp-Apim-Subscription-Key": "pz_unknown"})
    rule = {"provider": "pixazo", "action": "status", "status": 403, "times": 1}
    assert go.control.post("/faults", json=rule).status_code == 201
    go("POST", submit, 403, json=doc)


def test_pixelapi_flows(through: dict[str, Through]) -> None:
    go = through["pixelapi"]

    def finish(submitted: httpx.Response, poll: str = "/v1/image/") -> dict[str, object]:
        generation = submitted.json()["generation_id"]
        go.advance(10)
        body: dict[str, object] = go("GET", f"{poll}{generation}", 200).json()
        return body

    image = {"image_url": "https://example.com/product.jpg"}
    first = go("POST", "/v1/image/remove-background", 200, json=image)
    assert go("GET", f"/v1/image/{first.json()['generation_id']}", 200).json()["status"] == "queued"
    assert finish(first)["status"] == "completed"
    # (Prism's proxy re-encodes binary bodies as text, so uploads are checked by the other tests)
    assert finish(go("POST", "/v1/image/upscale", 200, json=image))["output_url"]
    assert finish(go("POST", "/v1/image/generate", 200, json={"model": "flux-schnell", "prompt": "a chair"}))["model"]
    audio = go("POST", "/v1/audio/generate", 200, json={"prompt": "calm piano", "duration": 5})
    assert finish(audio)["status"] == "completed"
    video = go("POST", "/v1/video/generate", 200, json={"prompt": "waves", "duration": 1})
    assert finish(video, "/v1/video/")["status"] == "completed"
    blocked = go("POST", "/v1/image/restore-face", 200, json={"image_url": "https://example.com/mock-blocked.jpg"})
    assert finish(blocked)["status"] == "blocked"
    person, garment = (base64.b64encode(sample(name)[0]).decode() for name in ("person.png", "garment.png"))
    tryon = go(
        "POST",
        "/v1/virtual-tryon",
        200,
        json={"person_image": person, "garment_image": garment, "category": "upperbody"},
    )
    go.advance(10)
    assert go("GET", f"/v1/virtual-tryon/jobs/{tryon.json()['job_id']}", 200).json()["status"] == "completed"
    small = {"person_image": base64.b64encode(_png((48, 32))).decode(), "garment_image": garment, "category": "dress"}
    assert go("POST", "/v1/virtual-tryon", 422, json=small).json()["detail"]["received_size"] == "48x32px"
    assert go("GET", "/v1/models", 200).json()["models"]
    assert go("GET", "/v1/account/balance", 200).json()["plan"] == "starter"
    assert go("GET", "/v1/account/usage", 200, params={"limit": 3}).json()["usage"]
    go("GET", "/v1/image/nope", 404)
    go("POST", "/v1/image/remove-background", 402, json=image, headers={"Authorization": "Bearer pk_poor"})
    go("GET", "/v1/models", 401, headers={"Authorization": "Bearer pk_unknown"})
    go("GET", "/v1/models", 403, headers={"User-Agent": "python-requests/2.32"})


def test_fal_flows(through: dict[str, Through]) -> None:
    go = through["fal"]
    app = "/queue/pixelcut/video-background-removal"
    submitted = go("POST", app, 200, json={"video_url": "https://example.com/clip.mp4"}).json()
    rid = submitted["request_id"]
    assert go("GET", f"{app}/requests/{rid}/status", 202).json()["status"] == "IN_QUEUE"
    go.advance(0.6)
    assert go("GET", f"{app}/requests/{rid}/status", 202, params={"logs": 1}).json()["status"] == "IN_PROGRESS"
    go.advance(5)
    assert go("GET", f"{app}/requests/{rid}/status", 200).json()["status"] == "COMPLETED"
    assert go("GET", f"{app}/requests/{rid}", 200).json()["video"]["url"]
    go("PUT", f"{app}/requests/{rid}/cancel", 400)
    go("GET", f"{app}/requests/nope/status", 404)
    go("POST", app, 422, json={"video_url": "https://example.com/clip.mp4", "background": "custom"})
