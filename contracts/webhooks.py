"""Verify a webhook *handler*: it must accept fal's genuine signed deliveries and nothing else.

    def handle(headers: dict[str, str], body: bytes) -> bool:   # True: accepted
        ...

    verify_webhook_handler(handle)

The deliveries are real: a mock runs a fal request with ``?fal_webhook=`` and a local receiver
records what it sends (Ed25519-signed as fal signs). The forgeries are made from them: a changed
byte of the body, the signature removed, a signature by another key, and a genuine delivery
signed ten minutes ago (fal's docs: refuse timestamps older than five minutes). While the handler
runs, ``https://rest.fal.ai/.well-known/jwks.json`` answers from the mock for httpx clients.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts._inprocess import BASE_URL, InProcessMock, intercept
from contracts._receiver import Delivery, WebhookReceiver
from contracts.control import MockControl
from mockserver.settings import Settings

Handler = Callable[[dict[str, str], bytes], bool]
SUBMIT = "/fal/queue/pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/samples/tiny.mp4"
SIGNATURE = "x-fal-webhook-signature"


class WebhookHandlerError(AssertionError):
    """The handler accepted a forgery or refused a genuine delivery."""


def _delivery(mock: InProcessMock, receiver: WebhookReceiver) -> Delivery:
    """A genuine delivery from `mock`, signed at the mock's time."""
    with (
        MockControl(BASE_URL, transport=mock.transport) as control,
        httpx.Client(transport=mock.transport, base_url=BASE_URL) as http,
    ):
        response = http.post(
            f"{SUBMIT}?fal_webhook={quote(receiver.url)}",
            json={"video_url": SAMPLE},
            headers={"Authorization": "Key cutout-webhooks"},
        )
        response.raise_for_status()
        control.advance_clock(5)  # the job's queue and run time: the delivery falls due
        control.flush_webhooks()
    return receiver.deliveries[-1]


def _forgeries(genuine: Delivery, stale: Delivery) -> dict[str, tuple[dict[str, str], bytes]]:
    tampered = bytearray(genuine.body)
    tampered[len(tampered) // 2] ^= 0x01
    unsigned = {k: v for k, v in genuine.headers.items() if k != SIGNATURE}
    other = Ed25519PrivateKey.generate().sign(b"not the message").hex()
    return {
        "a changed byte of the body": (genuine.headers, bytes(tampered)),
        "no signature": (unsigned, genuine.body),
        "a signature by another key": ({**genuine.headers, SIGNATURE: other}, genuine.body),
        "a genuine signature ten minutes old": (stale.headers, stale.body),
    }


def verify_webhook_handler(handler: Handler) -> None:
    """Raise ``WebhookHandlerError`` naming the first delivery the handler got wrong."""
    with tempfile.TemporaryDirectory(prefix="cutout-webhooks-") as state, WebhookReceiver() as receiver:
        # One state dir: both mocks sign with the same key, which the JWKS serves.
        fresh = InProcessMock(Settings.for_tests(state_dir=Path(state), clock="real", allow_private_fetch=True))
        old = InProcessMock(Settings.for_tests(state_dir=Path(state), allow_private_fetch=True))
        try:
            with MockControl(BASE_URL, transport=old.transport) as control:
                control.advance_clock(to=_now(fresh) - 660)  # signs ten minutes (and a job's run) ago
            stale = _delivery(old, receiver)
            genuine = _delivery(fresh, receiver)
            with intercept(fresh, {"rest.fal.ai"}):
                if not handler(dict(genuine.headers), genuine.body):
                    raise WebhookHandlerError("refused a genuine, freshly signed delivery")
                for name, (headers, body) in _forgeries(genuine, stale).items():
                    if handler(dict(headers), body):
                        raise WebhookHandlerError(f"accepted a forgery: {name}")
        finally:
            fresh.close()
            old.close()


def _now(mock: InProcessMock) -> float:
    with MockControl(BASE_URL, transport=mock.transport) as control:
        return float(control.get_clock()["now"])
