"""cutout-mock's contract kit: a configured mock for your tests, and verifiers for your code.

    import contracts

    with contracts.mock(provider="fal") as cutout:       # the mock in this process, real hosts intercepted
        fal_client.subscribe(...)                         # (also a decorator; the pytest plugin's cutout_mock)
        cutout.control.list_jobs()                        # a MockControl: the control plane, one method per operation

    contracts.verify_client(run, "pixelapi")              # your polling code under generated hard cases
    contracts.verify_server("fal", "http://127.0.0.1:8080/fal")   # a server: this mock, your gateway, the real API
    contracts.verify_webhook_handler(handle)              # your fal webhook handler, genuine and forged deliveries

Add checks with ``@contracts.check`` (servers) and ``@contracts.client_check`` (clients). Each name
loads on first use, so ``import contracts`` (and loading the pytest plugin) imports no numpy,
OpenCV, PyAV or uvicorn. ``verify_client`` needs the ``kit`` extra (Hypothesis), as does
schemathesis's part of ``verify_server``: ``pip install 'cutout-mock[kit]'``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contracts._receiver import WebhookReceiver
    from contracts._session import CutoutMock, CutoutServer, mock, mock_server
    from contracts.checks import CheckFailed, check
    from contracts.client import ClientContractError, ClientNotFollowed, client_check, verify_client
    from contracts.control import MockControl, MockControlError
    from contracts.server import verify_server
    from contracts.webhooks import WebhookHandlerError, verify_webhook_handler

__all__ = [
    "CheckFailed",
    "ClientContractError",
    "ClientNotFollowed",
    "CutoutMock",
    "CutoutServer",
    "MockControl",
    "MockControlError",
    "WebhookHandlerError",
    "WebhookReceiver",
    "check",
    "client_check",
    "mock",
    "mock_server",
    "verify_client",
    "verify_server",
    "verify_webhook_handler",
]

_HOMES = {
    "CheckFailed": "contracts.checks",
    "check": "contracts.checks",
    "ClientContractError": "contracts.client",
    "ClientNotFollowed": "contracts.client",
    "client_check": "contracts.client",
    "verify_client": "contracts.client",
    "CutoutMock": "contracts._session",
    "CutoutServer": "contracts._session",
    "mock": "contracts._session",
    "mock_server": "contracts._session",
    "MockControl": "contracts.control",
    "MockControlError": "contracts.control",
    "verify_server": "contracts.server",
    "WebhookHandlerError": "contracts.webhooks",
    "verify_webhook_handler": "contracts.webhooks",
    "WebhookReceiver": "contracts._receiver",
}
KIT_EXTRA = "pip install 'cutout-mock[kit]'"
_KIT_MODULES = frozenset({"hypothesis", "schemathesis"})  # what the kit extra adds to a plain install


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'contracts' has no attribute {name!r}")
    try:
        module = importlib.import_module(home)
    except ModuleNotFoundError as missing:
        if missing.name not in _KIT_MODULES:
            raise
        raise ModuleNotFoundError(f"contracts.{name} needs {missing.name}: {KIT_EXTRA}", name=missing.name) from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
