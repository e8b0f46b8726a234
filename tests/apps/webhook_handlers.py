"""Sample fal webhook handlers: one that verifies as fal's docs say, and ways teams get it wrong."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"


def _public_keys() -> list[Ed25519PublicKey]:
    keys = httpx.get(JWKS_URL, timeout=10).json()["keys"]
    return [
        Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))) for k in keys
    ]


def _signature_ok(headers: dict[str, str], body: bytes) -> bool:
    try:
        signature = bytes.fromhex(headers["x-fal-webhook-signature"])
        message = "\n".join(
            [
                headers["x-fal-webhook-request-id"],
                headers["x-fal-webhook-user-id"],
                headers["x-fal-webhook-timestamp"],
                hashlib.sha256(body).hexdigest(),
            ]
        ).encode()
    except (KeyError, ValueError):
        return False
    for key in _public_keys():
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def good(headers: dict[str, str], body: bytes) -> bool:
    """Signature by a JWKS key over the documented message, and a timestamp within five minutes."""
    try:
        fresh = abs(time.time() - int(headers["x-fal-webhook-timestamp"])) <= 300
    except (KeyError, ValueError):
        return False
    return fresh and _signature_ok(headers, body)


def trusts_unsigned(headers: dict[str, str], body: bytes) -> bool:
    """Checks a signature when there is one; a delivery without one is let in."""
    if "x-fal-webhook-signature" not in headers:
        return True
    return _signature_ok(headers, body)


def ignores_the_timestamp(headers: dict[str, str], body: bytes) -> bool:
    """Verifies the signature but not its age: a captured delivery can be replayed forever."""
    return _signature_ok(headers, body)


def checks_only_the_header_is_there(headers: dict[str, str], body: bytes) -> bool:
    return "x-fal-webhook-signature" in headers


BROKEN = {
    "trusts_unsigned": (trusts_unsigned, "no signature"),
    "ignores_the_timestamp": (ignores_the_timestamp, "ten minutes old"),
    "checks_only_the_header_is_there": (checks_only_the_header_is_there, "a changed byte of the body"),
}
