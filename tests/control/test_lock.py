"""The control plane's lock (issue 14), through HTTP and the CLI: Host and Origin, JSON only, the
token (given, or generated when serve listens beyond loopback), redaction, and the exposed ports."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts._inprocess import BASE_URL, InProcessMock
from contracts._live import LiveServer
from contracts._session import CutoutServer
from contracts.control import MockControl, MockControlError
from mockserver.app import create_app, surfaces
from mockserver.settings import Settings
from mockserver.web.hosts import SurfaceMount
from tests.server.live import free_port, running, serve_process

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}
ADVANCE = json.dumps({"advance": 3600})


def _mock(tmp_path: Path, **settings: Any) -> InProcessMock:
    return InProcessMock(Settings.for_tests(state_dir=tmp_path, **settings))


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[InProcessMock]:
    running_mock = _mock(tmp_path)
    yield running_mock
    running_mock.close()


@pytest.fixture
def http(mock: InProcessMock) -> Iterator[httpx.Client]:
    with httpx.Client(transport=mock.transport, base_url=BASE_URL) as client:
        yield client


def _now(http: httpx.Client) -> float:
    return float(http.get("/__mock/clock").json()["now"])


# --- Host (DNS rebinding) and Origin -------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "rebind.attacker.test.", "localhost.evil.test"])
def test_a_foreign_host_is_refused_and_changes_nothing(http: httpx.Client, host: str) -> None:
    before = _now(http)
    refused = http.post("/__mock/clock", content=ADVANCE, headers={**JSON, "Host": host})
    assert refused.status_code == 403
    assert "not a name this mock serves" in refused.json()["detail"] and "--allowed-host" in refused.json()["detail"]
    assert http.get("/__mock/journal", headers={"Host": host}).status_code == 403  # reads too: the journal
    assert _now(http) == before


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8080", "localhost", "LOCALHOST:9000", "app.localhost", "[::1]:8080", "10.1.2.3:8080", "testserver"],
)
def test_loopback_names_and_address_literals_are_served(http: httpx.Client, host: str) -> None:
    assert http.get("/__mock/clock", headers={"Host": host}).status_code == 200


def test_allowed_hosts_host_and_public_url_are_served(tmp_path: Path) -> None:
    settings = {"allowed_hosts": ("mock.ci.internal",), "host": "mock-host.lan", "public_url": "https://mock.example:9"}
    mock = _mock(tmp_path, **settings)
    try:
        with httpx.Client(transport=mock.transport, base_url=BASE_URL) as http:
            for host in ("mock.ci.internal:8080", "MOCK.CI.INTERNAL", "mock-host.lan", "mock.example"):
                assert http.get("/__mock/health", headers={"Host": host}).status_code == 200, host
            assert http.get("/__mock/health", headers={"Host": "other.ci.internal"}).status_code == 403
    finally:
        mock.close()
    anyone = _mock(tmp_path / "any", allowed_hosts=("*",))
    try:
        with httpx.Client(transport=anyone.transport, base_url=BASE_URL) as http:
            assert http.get("/__mock/health", headers={"Host": "whatever.example"}).status_code == 200
            # "*" widens Host, not Origin: a page on another site still cannot reset (a no-cors POST, no body)
            page = {"Host": "whatever.example", "Origin": "https://evil.example"}
            assert http.post("/__mock/reset", headers=page).status_code == 403
            own = {"Host": "whatever.example", "Origin": "https://whatever.example"}
            assert http.post("/__mock/reset", headers=own).status_code == 200
    finally:
        anyone.close()


@pytest.mark.parametrize("origin", ["https://evil.example", "http://192.168.1.66", "null", "http://[::1"])  # [: a 500
def test_a_page_on_another_site_is_refused_even_without_a_body(http: httpx.Client, origin: str) -> None:
    http.put("/__mock/accounts/pixelapi/pa-kept", json={"balance": 5})
    before = _now(http)
    headers = {"Host": "127.0.0.1:8080", "Origin": origin}
    assert http.post("/__mock/clock", content=ADVANCE, headers={**headers, **JSON}).status_code == 403
    assert http.post("/__mock/reset", headers=headers).status_code == 403  # a no-cors fetch sends no type
    assert _now(http) == before
    assert [a["key"] for a in http.get("/__mock/accounts").json()["accounts"]] == ["pa-kept"]


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8080", "http://localhost:3000", "http://10.1.2.3:8080"])
def test_a_page_on_the_mock_or_on_loopback_is_taken(http: httpx.Client, origin: str) -> None:
    headers = {"Host": "10.1.2.3:8080", "Origin": origin, **JSON}
    assert http.post("/__mock/clock", content=ADVANCE, headers=headers).status_code == 200


def test_the_host_check_holds_on_a_real_port_started_by_the_cli(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--allowed-host", "mock.ci.internal") as (_, base, _banner):
        assert httpx.get(f"{base}/__mock/clock", headers={"Host": "evil.example"}, timeout=10).status_code == 403
        assert httpx.get(f"{base}/__mock/clock", headers={"Host": "mock.ci.internal"}, timeout=10).status_code == 200
        assert httpx.get(f"{base}/__mock/clock", timeout=10).status_code == 200


# --- JSON only -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},  # what a cross-site fetch or a text/plain form sends
        {"Content-Type": "application/x-www-form-urlencoded"},  # an HTML form
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},  # a body and no type
    ],
)
def test_a_state_changing_call_that_is_not_json_is_refused_and_the_clock_stays(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    before = _now(http)
    refused = http.post("/__mock/clock", content=ADVANCE, headers=headers)
    assert refused.status_code == 415 and "application/json" in refused.json()["detail"]
    assert http.put("/__mock/accounts/pixelapi/pa-new", content='{"balance": 99}', headers=headers).status_code == 415
    assert _now(http) == before
    assert http.get("/__mock/accounts", params={"provider": "pixelapi"}).json()["accounts"] == []


def test_json_and_bodyless_calls_are_taken(http: httpx.Client) -> None:
    before = _now(http)
    assert http.post(
        "/__mock/clock", content=ADVANCE, headers={"Content-Type": "application/json; charset=utf-8"}
    ).is_success
    assert _now(http) == before + 3600
    assert http.post("/__mock/clock/freeze").status_code == 200  # no body, no type: curl -X POST
    assert http.delete("/__mock/faults").status_code == 200
    assert (
        http.post("/__mock/faults", content="{}", headers={"Content-Type": "application/problem+json"}).status_code
        == 422
    )


# --- the control token ---------------------------------------------------------------------------


def test_a_control_token_is_required_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mock = _mock(tmp_path, control_token="s3cret-token")
    try:
        with httpx.Client(transport=mock.transport, base_url=BASE_URL) as http:
            missing = http.post("/__mock/clock", json={"advance": 60})
            assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
            assert "--control-token" in missing.json()["detail"]
            for wrong in ("Bearer s3cret", "Bearer s3cret-token-and-more", "Key s3cret-token", "s3cret-token"):
                assert http.get("/__mock/journal", headers={"Authorization": wrong}).status_code == 401, wrong
            assert http.get("/__mock/health").status_code == 200  # readiness probes need no token
            right = {"Authorization": "Bearer s3cret-token"}
            assert http.post("/__mock/clock", json={"advance": 60}, headers=right).status_code == 200
            assert http.get("/__mock/samples/product.jpg").status_code == 401  # samples too (README)
            assert http.get("/__mock/samples/product.jpg", headers=right).status_code == 200
        with pytest.raises(MockControlError) as refused:
            MockControl(BASE_URL, transport=mock.transport).get_clock()
        assert refused.value.status == 401
        with MockControl(BASE_URL, transport=mock.transport, token="s3cret-token") as control:
            assert control.list_jobs() == []
        monkeypatch.setenv("CUTOUT_MOCK_CONTROL_TOKEN", "s3cret-token")  # the variable serve reads too
        with MockControl(BASE_URL, transport=mock.transport) as control:
            assert control.reset() == {"reset": True}
    finally:
        mock.close()


def test_the_kits_live_session_passes_its_servers_token(tmp_path: Path) -> None:
    with LiveServer(Settings.for_tests(state_dir=tmp_path, port=0, control_token="kit-token")) as server:
        assert httpx.get(f"{server.url}/__mock/jobs", timeout=10).status_code == 401
        with CutoutServer(server=server) as cutout:  # enters with reset, freeze: all through the token
            assert cutout.control.advance_clock(5)["clock"] == "virtual"


def test_serve_with_a_token_requires_it_and_does_not_print_it(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--control-token", "given-token") as (_, base, banner):
        assert "given-token" not in banner and "Authorization: Bearer" in banner
        assert httpx.get(f"{base}/__mock/clock", timeout=10).status_code == 401
        with MockControl(base, token="given-token") as control:
            assert control.get_clock()["clock"] == "real"


def test_serve_on_loopback_generates_no_token(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--host", "127.0.0.1") as (_, base, banner):
        assert "control token" not in banner and "WARNING" not in banner
        assert httpx.get(f"{base}/__mock/clock", timeout=10).status_code == 200


def _namespaces_work() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="needs root, unshare and ip (CI runs as root)")
@pytest.mark.parametrize("flags", [(), ("--store", "sqlite", "--workers", "2")], ids=["one", "workers"])
def test_serve_beyond_loopback_generates_prints_and_requires_a_token(flags: tuple[str, ...]) -> None:
    """`serve --host 0.0.0.0` in a network namespace of its own (loopback and 10.9.8.7 only); under
    --workers each worker process holds the same generated token."""
    setup = 'ip link set lo up && ip addr add 10.9.8.7/32 dev lo && exec "$@"'
    command = ["unshare", "-n", "sh", "-c", setup, "sh", sys.executable, "-m", "tests.control.lock_probe", *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    token, banner = probe["token"], probe["banner"]
    assert token and len(token) >= 40 and "WARNING: listening on 0.0.0.0" in banner
    assert f"Authorization: Bearer {token}" in banner
    for where in ("127.0.0.1", "10.9.8.7"):
        answers = {k.split(" ", 1)[1]: v for k, v in probe["answers"].items() if k.startswith(where)}
        assert answers == {"health": 200, "no token": 401, "wrong token": 401, "token": 200}, where


# --- redaction -----------------------------------------------------------------------------------

KEYS = {
    "pixelcut": ("/pixelcut/v1/credits", {"X-API-KEY": "sk_pixelcut_SECRET1"}),
    "fal": ("/fal/queue/pixelcut/video-background-removal/requests/nope/status", {"Authorization": "Key fal_SECRET2"}),
    "pixazo": ("/pixazo/v2/requests/status/nope", {"Ocp-Apim-Subscription-Key": "pz_SECRET3"}),
    "pixelapi": ("/pixelapi/v1/models", {"Authorization": "Bearer pa_SECRET4", "User-Agent": "Lock/1"}),
}
SECRETS = ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "QUERYSECRET", "HOOKPASS", "HOOKTOKEN"]


def _journal_with_credentials(http: httpx.Client) -> None:
    for path, headers in KEYS.values():
        http.get(path, headers=headers)
    http.get("/pixelcut/v1/credits", params={"apikey": "QUERYSECRET", "monkey": "kept"}, headers=KEYS["pixelcut"][1])
    http.get("/pixelcut/v1/credits", params={"api_key": "QUERYSECRET"}, headers=KEYS["pixelcut"][1])
    token = http.post("/fal/rest/storage/auth/token", json={}, headers={"Authorization": "Key fal_SECRET2"})
    assert token.status_code == 200, token.text
    hook = "https://user:HOOKPASS@hooks.example/cutout?token=HOOKTOKEN"
    submit = http.post(
        "/fal/queue/pixelcut/video-background-removal",
        params={"fal_webhook": hook},
        json={"video_url": "https://example.com/mock-stuck.mp4"},
        headers={"Authorization": "Key fal_SECRET2"},
    )
    assert submit.status_code == 200, submit.text
    http.post(f"/__mock/jobs/fal/{submit.json()['request_id']}/state", json={"state": "failed"})


def test_the_journal_and_webhooks_redact_credentials_unless_asked(http: httpx.Client) -> None:
    _journal_with_credentials(http)
    shown = http.get("/__mock/journal").text + http.get("/__mock/webhooks").text
    cdn_token = base64.urlsafe_b64encode(b"fal_SECRET2").decode()
    for secret in [*SECRETS, cdn_token.rstrip("=")]:
        assert secret not in shown, secret
    entries = http.get("/__mock/journal", params={"provider": "pixelcut"}).json()["entries"]
    assert entries[0]["key"].startswith("redacted:") and entries[0]["key"] == entries[-1]["key"]  # one fingerprint
    assert "api_key=redacted" in entries[-1]["query"]
    assert "apikey=redacted" in entries[-2]["query"] and "monkey=kept" in entries[-2]["query"]  # one word, no "_"
    [delivery] = http.get("/__mock/webhooks").json()["deliveries"]
    assert delivery["url"].startswith("https://redacted@hooks.example/cutout?token=redacted")
    # ?key= still filters by the real key; ?reveal=credentials shows everything as recorded
    assert len(http.get("/__mock/journal", params={"key": "sk_pixelcut_SECRET1"}).json()["entries"]) == 3
    revealed = http.get("/__mock/journal", params={"reveal": "credentials"}).text
    revealed += http.get("/__mock/webhooks", params={"reveal": "credentials"}).text
    for secret in ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "QUERYSECRET", "HOOKPASS", cdn_token[:12]]:
        assert secret in revealed, secret
    assert http.get("/__mock/journal", params={"reveal": "everything"}).status_code == 422


def test_jobs_show_a_webhook_urls_secrets_and_inputs_credentials_redacted_unless_asked(http: httpx.Client) -> None:
    # /__mock/jobs showed the hook's password and token (and an input's api_key) that /__mock/webhooks masks
    hook = "https://user:HOOKPASS@hooks.example/cutout?token=HOOKTOKEN"
    submit = http.post(
        "/fal/queue/pixelcut/video-background-removal",
        params={"fal_webhook": hook},
        json={"video_url": "https://example.com/v.mp4", "api_key": "INPUTSECRET", "apikey": "ONEWORD", "pwd": "PWD1"},
        headers={"Authorization": "Key fal_SECRET2"},
    )
    assert submit.status_code == 200, submit.text
    one = f"/__mock/jobs/fal/{submit.json()['request_id']}"
    shown = [http.get(one).json(), http.get("/__mock/jobs").json()["jobs"][0]]
    for job in shown:
        assert job["webhook_url"].startswith("https://redacted@hooks.example/cutout?token=redacted:"), job
    assert shown[0]["input"]["api_key"].startswith("redacted:")
    assert shown[0]["input"]["video_url"] == "https://example.com/v.mp4"
    page = http.get(f"/__mock/ui/jobs/fal/{submit.json()['request_id']}").text  # the dashboard's job page
    for secret in ("HOOKPASS", "HOOKTOKEN", "INPUTSECRET", "ONEWORD", "PWD1"):  # "apikey": one word, no separator
        assert secret not in json.dumps(shown) and secret not in page, secret
    revealed = http.get(one, params={"reveal": "credentials"}).json()
    assert (revealed["webhook_url"], revealed["input"]["api_key"]) == (hook, "INPUTSECRET")
    assert http.get("/__mock/jobs", params={"reveal": "credentials"}).json()["jobs"][0]["webhook_url"] == hook


# --- exposed ports -------------------------------------------------------------------------------


@pytest.mark.parametrize("control", [False, True])
def test_the_control_plane_is_off_an_exposed_surface_unless_asked(tmp_path: Path, control: bool) -> None:
    app = create_app(Settings.for_tests(state_dir=tmp_path))
    exposed = SurfaceMount(app, surfaces()["fal-queue"], control=control)
    with running(exposed) as surface, running(app) as main:
        health = httpx.get(f"{surface}/__mock/health", timeout=10)
        reset = httpx.post(f"{surface}/__mock/reset", timeout=10)
        assert (health.status_code, reset.status_code) == ((200, 200) if control else (404, 404))
        if not control:
            assert health.json() == {"detail": "Not Found"}  # fal's own 404: a path of the surface
        assert httpx.get(f"{main}/__mock/health", timeout=10).status_code == 200


@pytest.mark.parametrize("flag", [(), ("--expose-control",)])
def test_serve_keeps_the_control_plane_off_expose_ports_unless_asked(tmp_path: Path, flag: tuple[str, ...]) -> None:
    port = free_port()
    with serve_process(tmp_path, "--expose", f"pixelcut-api={port}", *flag) as (_, base, _banner):
        exposed = httpx.get(f"http://127.0.0.1:{port}/__mock/health", timeout=10)
        assert exposed.status_code == (200 if flag else 404)
        assert (
            httpx.get(f"http://127.0.0.1:{port}/v1/credits", headers={"X-API-KEY": "k"}, timeout=10).status_code == 200
        )
        assert httpx.get(f"{base}/__mock/health", timeout=10).status_code == 200
