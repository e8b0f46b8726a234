"""Ed25519 webhook signatures, fal's scheme (providers/NOTES.md §1.10).

message = request_id + "\\n" + user_id + "\\n" + timestamp + "\\n" + hex(sha256(body)); the signature is
hex in ``X-Fal-Webhook-Signature``; the public key is served as a JWKS (``kty OKP, crv Ed25519``).
The mock's key lives in the state dir, so signatures stay valid across restarts.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    return "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()


class Signer:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_raw = raw
        self.kid = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, Ed25519PrivateKey)
            return cls(key)
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cls(key)

    def sign(self, request_id: str, user_id: str, timestamp: str, body: bytes) -> str:
        return self._key.sign(signed_message(request_id, user_id, timestamp, body)).hex()

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64url(self.public_raw),
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "EdDSA",
                }
            ]
        }


def verify(
    jwks: dict[str, list[dict[str, str]]],
    request_id: str,
    user_id: str,
    timestamp: str,
    body: bytes,
    signature_hex: str,
) -> bool:
    """True when any key of the JWKS verifies the signature (what a receiver does)."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    message = signed_message(request_id, user_id, timestamp, body)
    for jwk in jwks.get("keys", []):
        x = jwk.get("x", "")
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
            public.verify(signature, message)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False
