"""The control plane through MockControl: its spec, clock, seed, jobs, accounts, scenario files, billing."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from contracts._inprocess import BASE_URL, InProcessMock
from contracts.control import MockControl, MockControlError
from mockserver.engine.synth import Clip
from mockserver.settings import Settings
from mockserver.web.spec import load_spec, operations

FAL = {"Authorization": "Key fal-ctl"}
FAL_SUBMIT = "/fal/queue/pixelcut/video-background-removal"
PIXAZO = {"Ocp-Apim-Subscription-Key": "pz-ctl"}
PIXAZO_SUBMIT = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
PIXELAPI = {"Authorization": "Bearer pa-ctl", "User-Agent": "MyApp/1.0"}
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"
IMAGE = "https://example.com/product.jpg"
SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[InProcessMock]:
    running = InProcessMock(Settings.for_tests(state_dir=tmp_path))
    yield running
    running.close()


@pytest.fixture
def control(mock: InProcessMock) -> Iterator[MockControl]:
    with MockControl(BASE_URL, transport=mock.transport) as handle:
        yield handle


@pytest.fixture
def http(mock: InProcessMock) -> Iterator[httpx.Client]:
    with httpx.Client(transport=mock.transport, base_url=BASE_URL) as client:
        yield client


def test_mock_control_mirrors_the_control_spec_one_to_one() -> None:
    declared = {op.operation_id for op in operations(load_spec("control"))}
    methods = {name for name in vars(MockControl) if not name.startswith("_") and name != "close"}
    assert declared == methods


def test_the_control_plane_serves_its_own_spec(control: MockControl) -> None:
    assert control.get_openapi()["info"]["title"] == "cutout-mock control plane"
    assert control.health()["status"] == "ok"


def test_clock_freezes_runs_and_jumps(control: MockControl) -> None:
    frozen = control.get_clock()
    assert frozen["clock"] == "virtual"
    assert control.advance_clock(30)["now"] == frozen["now"] + 30
    assert control.advance_clock(to=frozen["now"] + 100)["now"] == frozen["now"] + 100
    with pytest.raises(MockControlError) as back:
        control.advance_clock(to=frozen["now"])
    assert back.value.status == 422
    running = control.run_clock(speed=1000)
    assert running["clock"] == "real" and running["speed"] == 1000
    assert control.get_clock()["now"] >= running["now"]  # it runs on (never back)
    stopped = control.freeze_clock()
    assert stopped["clock"] == "virtual" and control.get_clock()["now"] == stopped["now"]


def test_a_misspelt_clock_field_is_refused_not_ignored(control: MockControl, http: httpx.Client) -> None:
    """``{"advance_seconds": 60}`` answered 200 and moved nothing: a test then waited on a clock that stood."""
    now = control.get_clock()["now"]
    for path, body in (("/__mock/clock", {"advance_seconds": 60}), ("/__mock/clock/real", {"sped": 10})):
        answer = http.post(path, json=body)
        assert answer.status_code == 422 and next(iter(body)) in answer.json()["detail"], answer.text
    assert control.get_clock() == {"clock": "virtual", "now": now, "speed": 1.0}


def test_the_clock_never_passes_year_9999(control: MockControl, http: httpx.Client) -> None:
    """A clock moved to epoch 1.7e16 (schemathesis did) made PixelAPI's month arithmetic a 500 on the next
    balance set: the clock stops at 9999-12-31T23:59:59Z with a 422, and nothing moves."""
    now = control.get_clock()["now"]
    for body in ({"to": 1.7e16}, {"advance": 1.7e16}, {"advance": 253402300799 - now + 10}):
        answer = http.post("/__mock/clock", json=body)
        assert answer.status_code == 422 and "253402300799" in answer.json()["detail"], answer.text
    assert http.post("/__mock/clock/real", json={"speed": 1e12}).status_code == 422  # years a second
    assert control.get_clock() == {"clock": "virtual", "now": now, "speed": 1.0}
    assert http.post("/__mock/clock", json={"to": 253402300799}).status_code == 200
    answer = http.put("/__mock/accounts/pixelapi/k-far", json={"balance": 5, "plan": "pro"})
    assert answer.status_code == 200 and answer.json()["balance"] == 5, answer.text


def test_seed_makes_ids_repeat(control: MockControl, http: httpx.Client) -> None:
    def submit() -> str:
        return http.post(FAL_SUBMIT, json={"video_url": "https://x/mock-stuck.mp4"}, headers=FAL).json()["request_id"]

    control.set_seed(42)
    first = submit()
    control.set_seed(42)
    assert submit() == first


def test_force_a_stuck_job_through_its_states(control: MockControl, http: httpx.Client) -> None:
    job = http.post(FAL_SUBMIT, json={"video_url": "https://x/mock-stuck.mp4"}, headers=FAL).json()
    status_url = f"/fal/queue/pixelcut/video-background-removal/requests/{job['request_id']}/status"
    control.advance_clock(3600)
    assert http.get(status_url, headers=FAL).json()["status"] == "IN_QUEUE"  # stuck stays queued
    control.force_job("fal", job["request_id"], "running")
    assert http.get(status_url, headers=FAL).json()["status"] == "IN_PROGRESS"
    with pytest.raises(MockControlError) as refused:  # nothing was produced: success cannot be forced
        control.force_job("fal", job["request_id"], "succeeded")
    assert refused.value.status == 409
    ended = control.force_job("fal", job["request_id"], "errored")
    assert ended["state"] == "errored" and ended["charged"] == 0  # refunded, as fal bills no errors
    assert http.get(status_url, headers=FAL).json()["status"] == "COMPLETED"
    assert control.get_account("fal", "fal-ctl")["balance"] == pytest.approx(10.0)
    with pytest.raises(MockControlError):
        control.force_job("fal", "nope", "failed")


def test_release_lets_a_stuck_job_finish(control: MockControl, http: httpx.Client) -> None:
    stuck = {**FAL, "X-Mock-Scenario": "stuck"}
    job = http.post(FAL_SUBMIT, json={"video_url": SAMPLE}, headers=stuck).json()
    control.advance_clock(3600)
    assert [j["id"] for j in control.list_jobs(provider="fal", state="queued")] == [job["request_id"]]
    control.force_job("fal", job["request_id"], "release")
    assert control.get_job("fal", job["request_id"])["state"] == "queued"  # its queue time starts now
    control.advance_clock(60)
    assert control.get_job("fal", job["request_id"])["state"] == "succeeded"


def test_accounts_set_balance_plan_and_revoke_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"pixelapi": {"pa-listed": {"balance": 50}}}')
    strict = InProcessMock(Settings.for_tests(state_dir=tmp_path, keys_file=keys))
    try:
        with (
            MockControl(BASE_URL, transport=strict.transport) as control,
            httpx.Client(transport=strict.transport, base_url=BASE_URL) as http,
        ):
            new = {"Authorization": "Bearer pa-new", "User-Agent": "MyApp/1.0"}
            assert http.get("/pixelapi/v1/account/balance", headers=new).status_code == 401
            control.put_account("pixelapi", "pa-new", balance=7, plan="pro")
            balance = http.get("/pixelapi/v1/account/balance", headers=new).json()
            assert balance["credits_remaining"] == 7 and balance["plan"] == "pro"
            assert [a["key"] for a in control.list_accounts("pixelapi")] == ["pa-new"]
            control.delete_account("pixelapi", "pa-new")
            assert http.get("/pixelapi/v1/account/balance", headers=new).status_code == 401
            with pytest.raises(MockControlError) as bad:
                control.put_account("pixelapi", "pa-new", balance=-1)
            assert bad.value.status == 422
    finally:
        strict.close()


def test_concurrent_submits_take_exactly_the_affordable_credits(control: MockControl, http: httpx.Client) -> None:
    control.put_account("pixelapi", "pa-ctl", balance=5)  # remove-background costs 2: two fit, 1 left

    def submit(_: int) -> int:
        body = {"image_url": IMAGE}
        return http.post("/pixelapi/v1/image/remove-background", json=body, headers=PIXELAPI).status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(submit, range(10)))
    assert sorted(codes) == [200] * 2 + [402] * 8, codes
    assert control.get_account("pixelapi", "pa-ctl")["balance"] == 1


def test_fal_bills_video_per_started_block_of_30_frames(control: MockControl, http: httpx.Client) -> None:
    job = http.post(FAL_SUBMIT, json={"video_url": SAMPLE}, headers=FAL).json()
    detail = control.get_job("fal", job["request_id"])
    expected = math.ceil(detail["result"]["frames"] / 30) * 0.022
    assert detail["charged"] == pytest.approx(expected)
    assert control.get_account("fal", "fal-ctl")["balance"] == pytest.approx(10 - expected)


def test_fal_with_an_exhausted_balance_is_locked(control: MockControl, http: httpx.Client) -> None:
    control.put_account("fal", "fal-ctl", balance=0.01)
    r = http.post(FAL_SUBMIT, json={"video_url": SAMPLE}, headers=FAL)
    assert r.status_code == 403 and "Exhausted balance" in r.json()["detail"]
    assert control.list_jobs(provider="fal") == []


def test_a_short_balance_is_billed_down_to_zero_never_below(
    control: MockControl, http: httpx.Client, tmp_path: Path
) -> None:
    clip = Clip(seed=2, size=(72, 96), n_frames=61).write(tmp_path / "long.mp4")  # 3 blocks: $0.066
    video = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    control.put_account("fal", "fal-ctl", balance=0.03)  # one block held, the rest only partly covered
    job = http.post(FAL_SUBMIT, json={"video_url": video}, headers=FAL).json()
    assert control.get_job("fal", job["request_id"])["result"]["frames"] == 61
    assert control.get_account("fal", "fal-ctl")["balance"] == 0
    assert control.get_job("fal", job["request_id"])["charged"] == pytest.approx(0.03)


def test_pixazo_wallet_402_and_no_charge_for_error(control: MockControl, http: httpx.Client) -> None:
    control.put_account("pixazo", "pz-ctl", balance=0)
    r = http.post(PIXAZO_SUBMIT, json={"video_url": SAMPLE}, headers=PIXAZO)
    assert r.status_code == 402 and r.json() == {
        "error": "Insufficient Balance",
        "message": "Your wallet does not have enough balance.",
    }
    control.put_account("pixazo", "pz-ctl", balance=1)
    errored = http.post(PIXAZO_SUBMIT, json={"video_url": "https://x/mock-error.mp4"}, headers=PIXAZO).json()
    assert control.get_job("pixazo", errored["request_id"])["charged"] == 0
    failed = http.post(PIXAZO_SUBMIT, json={"video_url": "https://x/mock-fail.mp4"}, headers=PIXAZO).json()
    assert control.get_job("pixazo", failed["request_id"])["charged"] == pytest.approx(0.022)  # FAILED is billed
    assert control.get_account("pixazo", "pz-ctl")["balance"] == pytest.approx(1 - 0.022)


def test_cancel_after_the_webhook_was_scheduled_sends_the_cancellation(
    control: MockControl, http: httpx.Client
) -> None:
    hook = "https://hooks.example.com/fal"  # never reached: the test looks at the scheduled payload
    job = http.post(f"{FAL_SUBMIT}?fal_webhook={hook}", json={"video_url": SAMPLE}, headers=FAL).json()
    [scheduled] = control.list_webhooks("fal", job["request_id"])
    assert scheduled["payload"]["status"] == "OK"  # the work is done, the job still shows running
    cancel = http.put(f"{FAL_SUBMIT}/requests/{job['request_id']}/cancel", headers=FAL)
    assert cancel.status_code == 202
    [restated] = control.list_webhooks("fal", job["request_id"])
    assert restated["payload"]["status"] == "ERROR" and restated["due_at"] <= control.get_clock()["now"]
    assert control.get_account("fal", "fal-ctl")["balance"] == pytest.approx(10.0)


def test_scenario_document_applies_all_or_nothing(control: MockControl, http: httpx.Client) -> None:
    with pytest.raises(MockControlError) as bad:
        control.load_scenario({"seed": 3, "faults": [{"action": "status", "status": 503}, {"action": "explode"}]})
    assert bad.value.status == 422 and control.list_faults()["rules"] == []
    done = control.load_scenario(
        {
            "clock": {"advance": 5},
            "rate_limits": [{"enabled": True}, {"provider": "pixazo", "requests": 1, "window": 10}],
            "accounts": [{"provider": "pixazo", "key": "pz-ctl", "balance": 3}],
            "faults": [{"provider": "fal", "action": "status", "status": 503, "times": 1}],
        }
    )
    assert len(done["faults"]) == 1 and done["accounts"][0]["balance"] == 3
    assert http.get("/fal/queue/pixelcut/video-background-removal/requests/x/status", headers=FAL).status_code == 503
    status = "/pixazo/v2/requests/status/nope"
    assert [http.get(status, headers=PIXAZO).status_code for _ in range(2)] == [404, 429]


def test_a_scenario_file_is_applied_at_start(tmp_path: Path) -> None:
    mock = InProcessMock(Settings.for_tests(state_dir=tmp_path, scenario_file=SCENARIOS / "flaky-fal.yaml"))
    try:
        with httpx.Client(transport=mock.transport, base_url=BASE_URL) as http:
            status = f"{FAL_SUBMIT}/requests/nope/status"
            assert [http.get(status, headers=FAL).status_code for _ in range(3)] == [503, 503, 404]
    finally:
        mock.close()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_committed_scenario_file_loads(control: MockControl, path: Path) -> None:
    control.load_scenario(yaml.safe_load(path.read_text()))


def test_a_fault_naming_an_unknown_operation_is_refused(control: MockControl) -> None:
    with pytest.raises(MockControlError) as typo:
        control.add_fault("status", provider="fal", operation="fal-queue-statuz", status=500)
    assert typo.value.status == 422 and "fal-queue-status" in typo.value.detail


@pytest.mark.parametrize("limit", ["\u00b2", "\u0663", "0", "-1", "x"])  # "²" passes str.isdigit (it was a 500)
@pytest.mark.parametrize("listing", ["/__mock/jobs", "/__mock/journal"])
def test_a_page_limit_that_is_not_ascii_digits_is_a_422(http: httpx.Client, listing: str, limit: str) -> None:
    r = http.get(listing, params={"limit": limit})
    assert r.status_code == 422 and "limit" in r.json()["detail"], r.text
