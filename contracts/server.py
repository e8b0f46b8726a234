"""Verify a provider *server*: this mock, a team's proxy or gateway, or the real API.

Two parts, both from the contract: schemathesis runs the provider's spec (examples, coverage,
fuzzing, stateful via links) through its own CLI, and our checks (``contracts/checks.py``) read a
recorded job from submit to download. Against the real API every run costs credits: one or two
jobs for the checks, and whatever schemathesis gets accepted.

    cutout-mock verify server --provider pixelapi --base-url http://127.0.0.1:8080/pixelapi

Against a cutout-mock (its ``/__mock/health`` answers), schemathesis runs with the mock's rate
limits off unless ``rate_limits=True`` (``--rate-limits``) asks to test them: under ``serve``'s
limits most of its requests would be 429s and test nothing else. The checks keep the limits as
they are (they read the rate-limit headers); the report says what was changed, and the limits
are switched back on after the run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contracts.checks import CHECKS, CheckFailed, Trace, json_object
from contracts.control import MockControl, MockControlError
from contracts.flows import FLOWS, Flow
from mockserver.web.spec import spec_path


@dataclass
class Outcome:
    name: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    provider: str
    base_url: str
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the verifier changed or assumed, in words

    @property
    def ok(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def failed(self) -> list[str]:
        return [o.name for o in self.outcomes if not o.passed]

    def junit(self, path: Path) -> None:
        suite = ET.Element(
            "testsuite",
            name=f"cutout-mock verify server {self.provider}",
            tests=str(len(self.outcomes)),
            failures=str(len(self.failed)),
        )
        for outcome in self.outcomes:
            case = ET.SubElement(
                suite, "testcase", classname=f"cutout.{self.provider}", name=outcome.name, time=f"{outcome.seconds:.3f}"
            )
            if not outcome.passed:
                ET.SubElement(case, "failure", message=outcome.message[:500]).text = outcome.message
        ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


def record(flow: Flow, base_url: str, key: str, *, client: httpx.Client, timeout: float = 120.0) -> Trace:
    """Drive one job from submit to download (plus the requests the checks need), and keep it all."""
    base_url = base_url.rstrip("/")
    headers = flow.headers(key)
    responses: list[httpx.Response] = []

    def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        responses.append(response)
        return response

    submit = call("POST", base_url + flow.submit_path, json=flow.submit_body, headers=headers)
    trace = Trace(flow, base_url, submit, responses=responses)
    body = json_object(submit)
    trace.poll_url = flow.poll_url(body, base_url) if flow.job_id(body) else None
    deadline = time.monotonic() + timeout
    while trace.poll_url and time.monotonic() < deadline:
        poll = call("GET", trace.poll_url, headers=headers)
        trace.polls.append(poll)
        word = flow.status(json_object(poll)) if 200 <= poll.status_code < 300 else None
        trace.statuses.append(word)
        if word is None or flow.terminal(word):
            break
        time.sleep(_retry_after(poll, 0.2))
    if trace.statuses and flow.terminal(trace.statuses[-1]):
        trace.after_terminal = [call("GET", trace.poll_url or "", headers=headers) for _ in range(2)]
    if trace.statuses and trace.statuses[-1] == flow.succeeded:
        outcome = json_object(trace.polls[-1])
        if flow.result_url is not None and (result_url := flow.result_url(outcome)):
            trace.result = call("GET", result_url, headers=headers)
            outcome = json_object(trace.result)
        media_url = flow.output_url(outcome)
        if media_url:
            trace.media = call("GET", media_url, headers={"User-Agent": "cutout-mock-verify/1.0"})
    trace.second_submit = call("POST", base_url + flow.submit_path, json=flow.submit_body, headers=headers)
    trace.unauthenticated = call("POST", base_url + flow.submit_path, json=flow.submit_body, headers=flow.extra_headers)
    trace.invalid = call("POST", base_url + flow.submit_path, json={"no_such_field": 1}, headers=headers)
    return trace


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    return min(float(value), 30.0) if value.isdigit() else default


def run_checks(trace: Trace, names: list[str] | None = None) -> list[Outcome]:
    unknown = sorted(set(names or ()) - set(CHECKS))
    if unknown:
        raise ValueError(f"no check {', '.join(unknown)}; one of {', '.join(CHECKS)}")
    outcomes = []
    for name, function in CHECKS.items():
        if names and name not in names:
            continue
        started = time.perf_counter()
        try:
            function(trace)
        except CheckFailed as failure:
            outcomes.append(Outcome(name, False, str(failure), time.perf_counter() - started))
        else:
            outcomes.append(Outcome(name, True, "", time.perf_counter() - started))
    return outcomes


def schemathesis_executable() -> str | None:
    """schemathesis's CLI beside this Python (a venv), else on PATH."""
    return shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")


def run_schemathesis(
    provider: str,
    base_url: str,
    key: str,
    *,
    max_examples: int,
    check_invalid_keys: bool,
    junit: Path | None,
    request_timeout: float = 60.0,
) -> Outcome:
    """The provider's spec through schemathesis's CLI (all four phases), as one outcome;
    `request_timeout` is its limit on each request (its own default, 10 s, is short for fal's
    synchronous run under load)."""
    executable = schemathesis_executable()
    if executable is None:
        return Outcome("schemathesis", False, "schemathesis is not installed (pip install 'cutout-mock[kit]')")
    flow = FLOWS[provider]
    excluded = ["positive_data_acceptance"] + ([] if check_invalid_keys else ["ignored_auth"])
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text("[generation]\nallow-extra-parameters = false\n")
        command = [executable, "--config-file", str(config), "run", str(spec_path(provider)), "--url", base_url]
        for name, value in flow.headers(key).items():
            command += ["-H", f"{name}: {value}"]
        command += ["--exclude-checks", ",".join(excluded), "-n", str(max_examples), "--generation-deterministic"]
        command += ["--request-timeout", f"{request_timeout:g}", "--suppress-health-check", "all", "--no-color"]
        if junit is not None:
            command += ["--report", "junit", "--report-junit-path", str(junit)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    summary = "\n".join(done.stdout.strip().splitlines()[-30:])
    return Outcome("schemathesis", done.returncode == 0, summary, time.perf_counter() - started)


def verify_server(
    provider: str,
    base_url: str,
    *,
    key: str = "cutout-verify",
    checks: list[str] | None = None,
    schemathesis: bool = True,
    max_examples: int = 10,
    check_invalid_keys: bool = False,
    junit: Path | None = None,
    timeout: float = 120.0,
    request_timeout: float = 60.0,
    rate_limits: bool = False,
) -> Report:
    """Run the checks (and schemathesis) against a server; a report with one outcome per check.

    `timeout`: seconds the checks wait for their job to end; `request_timeout`: seconds each of
    schemathesis's requests may take. `rate_limits=False` (the default) runs schemathesis with a
    cutout-mock's rate limits off (noted in the report); True leaves them as they are, to test them.
    """
    if provider not in FLOWS:
        raise ValueError(f"provider must be one of {', '.join(FLOWS)}")
    report = Report(provider, base_url)
    with httpx.Client(timeout=request_timeout, follow_redirects=True) as client:
        try:
            trace = record(FLOWS[provider], base_url, key, client=client, timeout=timeout)
        except httpx.HTTPError as problem:
            report.outcomes.append(Outcome("reachable", False, f"{base_url}: {problem}"))
            return report
    report.outcomes += run_checks(trace, checks)
    if schemathesis:
        st_junit = junit.with_name(junit.stem + "-schemathesis.xml") if junit else None
        with _limits_for_schemathesis(base_url, rate_limits, report):
            outcome = run_schemathesis(
                provider,
                base_url,
                key,
                max_examples=max_examples,
                check_invalid_keys=check_invalid_keys,
                junit=st_junit,
                request_timeout=request_timeout,
            )
        report.outcomes.append(outcome)
    if junit is not None:
        report.junit(junit)
    return report


def mock_control(base_url: str) -> MockControl | None:
    """The control plane of the cutout-mock serving `base_url`, or None when it is not one."""
    url = httpx.URL(base_url)
    control = MockControl(str(url.copy_with(path="/", query=None)).rstrip("/"))
    try:
        health = control.health()
    except (httpx.HTTPError, MockControlError, ValueError):
        health = None
    if isinstance(health, dict) and health.get("status") == "ok" and "clock" in health:
        return control
    control.close()
    return None


@contextmanager
def _limits_for_schemathesis(base_url: str, keep: bool, report: Report) -> Iterator[None]:
    """A cutout-mock's rate limits off while schemathesis runs, unless `keep`; said in the report."""
    control = None if keep else mock_control(base_url)
    if control is None:
        yield
        return
    with control:
        if not control.get_rate_limits()["enabled"]:
            yield
            return
        control.set_rate_limits(False)
        report.notes.append(
            f"schemathesis ran with the rate limits of the cutout-mock at {control.base_url} off, switched back "
            "on after (--rate-limits keeps them, to test them)"
        )
        try:
            yield
        finally:
            control.set_rate_limits(True)
