"""Schemathesis against each provider's spec, in-process: no 5xx, no schema violation.

Coverage and fuzzing run per operation (`parametrize`); the stateful phase follows the specs'
links (submit -> status -> result) in `as_state_machine`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mockserver.app import create_app
from mockserver.settings import Settings
from mockserver.web.spec import load_spec

AUTH = {
    "pixelcut": {"X-API-KEY": "sk_schemathesis"},
    "fal": {"Authorization": "Key schemathesis"},
    "pixazo": {"Ocp-Apim-Subscription-Key": "schemathesis"},
    "pixelapi": {"Authorization": "Bearer pk_schemathesis", "User-Agent": "schemathesis-tests/1.0"},
}
# positive_data_acceptance expects every schema-valid body to be accepted. Media validity (a 1x1
# PNG, a random URL that cannot be fetched) is not expressible in JSON Schema, and the providers
# answer such inputs with their documented 400/422, so that one check is left out.
EXCLUDED = [positive_data_acceptance]
pytestmark = pytest.mark.slow  # every accepted example runs the real engine (video, 720p generation)
FUZZ = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _schema(name: str) -> Any:
    """The spec bound to an in-process app with strict keys, so invalid credentials must fail."""
    state = Path(tempfile.mkdtemp(prefix=f"st-{name}-"))
    key = {
        "pixelcut": "sk_schemathesis",
        "fal": "schemathesis",
        "pixazo": "schemathesis",
        "pixelapi": "pk_schemathesis",
    }[name]
    keys = state / "keys.json"
    keys.write_text(json.dumps({name: {key: {"balance": 1_000_000}}}))
    schema = schemathesis.openapi.from_dict(load_spec(name))
    # Unknown query parameters are ignored by the real APIs (FastAPI, APIM), so the mock ignores
    # them too; negative cases made only of extra parameters would expect a rejection.
    schema.config.generation.update(allow_extra_parameters=False)
    schema.app = create_app(Settings.for_tests(state_dir=state, keys_file=keys))
    return schema


def _operation_test(name: str) -> Any:
    schema = _schema(name)

    @schema.parametrize()
    @FUZZ
    def test(case: Any) -> None:
        case.call_and_validate(headers=AUTH[name], excluded_checks=EXCLUDED)

    return test


def _stateful_test(name: str) -> Any:
    machine = _schema(name).as_state_machine()
    machine.TestCase.settings = settings(
        max_examples=5, stateful_step_count=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )

    class Machine(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": AUTH[name]}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(
                response, additional_checks=additional_checks, excluded_checks=EXCLUDED, headers=AUTH[name]
            )

    return Machine.TestCase


test_pixelcut_spec = _operation_test("pixelcut")
test_fal_spec = _operation_test("fal")
test_pixazo_spec = _operation_test("pixazo")
test_pixelapi_spec = _operation_test("pixelapi")
TestPixelcutStateful = _stateful_test("pixelcut")
TestFalStateful = _stateful_test("fal")
TestPixazoStateful = _stateful_test("pixazo")
TestPixelapiStateful = _stateful_test("pixelapi")


def _control_test() -> Any:
    """The control plane against its own spec: no 5xx, answers as documented, bad input refused."""
    schema = schemathesis.openapi.from_dict(load_spec("control"))
    schema.config.generation.update(allow_extra_parameters=False)
    schema.app = create_app(Settings.for_tests(state_dir=Path(tempfile.mkdtemp(prefix="st-control-"))))

    @schema.parametrize()
    @FUZZ
    def test(case: Any) -> None:
        case.call_and_validate(excluded_checks=EXCLUDED)

    return test


test_control_spec = _control_test()
