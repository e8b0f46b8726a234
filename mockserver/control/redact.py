"""Credentials out of what the control plane shows of requests: the journal and webhook deliveries.

What a caller authenticated with is replaced by a fingerprint, ``"redacted:1a2b3c4d"`` (the first 8
hex digits of its SHA-256): entries by the same key still match one another, and ``?key=`` still
filters by the real key, but the key itself is not shown. Asked with ``?reveal=credentials``, the
control plane shows everything as recorded.

Where the providers read keys (their vocabularies' ``api_key``): fal ``Authorization: Key <key>`` and
its CDN token (``Bearer cutout-cdn.<key in base64>``, handed out in a JSON ``token`` field); Pixelcut
``X-API-KEY``; Pixazo ``Ocp-Apim-Subscription-Key``; PixelAPI ``Authorization: Bearer`` (its
``X-API-Key`` is refused, but masked all the same). Webhooks are signed in headers (fal's
``X-Fal-Webhook-Signature``), and a receiver's URL may carry its own secret
(``https://user:pass@host/hook?token=...``). Redacted, wherever they
appear in an entry: the entry's ``key``; headers named like a credential; query and form fields and
JSON members named like one (``key``, ``api_key``, ``token``, ``secret``, ``signature``...); passwords
and credential parameters of URLs inside those; ``Authorization``-shaped values.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mockserver.web.bodies import BadBody, parse_json

REVEAL = "credentials"  # ?reveal=credentials shows entries as recorded

CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",  # fal (Key), PixelAPI (Bearer), fal's CDN (Bearer token)
        "proxy-authorization",
        "x-api-key",  # Pixelcut, PixelAPI
        "ocp-apim-subscription-key",  # Pixazo
        "cookie",
        "set-cookie",
    }
)
# A name (header, query or form field, JSON member) that holds a secret: the last word of the name is
# one of these ("x-fal-webhook-signature", "api_key", "apiKey", "access_token", "client-secret").
_SECRET_WORD = "key|token|secret|signature|sig|password|passwd|auth|credentials?"
_SECRET_NAME = re.compile(rf"(?:^|[-_.])(?:{_SECRET_WORD})$", re.I)
_SECRET_CAMEL = re.compile(r"[a-z0-9](?:Key|Token|Secret|Signature|Password|Auth|Credentials?)$")
# Names written as one word ("?apikey=", "accesstoken", "pwd"): the separator rule above cannot see
# the credential word in them without also taking "monkey" or "turkey".
_ONE_WORD = frozenset(
    {
        "apikey", "accesskey", "secretkey", "privatekey", "accesstoken", "authtoken", "refreshtoken",
        "idtoken", "sessiontoken", "clientsecret", "password", "passwd", "pwd", "pass", "jwt", "bearer",
    }
)  # fmt: skip
_SCHEME_VALUE = re.compile(r"^(key|bearer|basic|token)\s+\S", re.I)
_URL_USER = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]*@")


def fingerprint(secret: str) -> str:
    """``"redacted:<first 8 hex digits of sha256>"``: the same secret, the same fingerprint."""
    return "redacted:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def secret_name(name: str) -> bool:
    """Whether a header, field or member of this name holds a credential."""
    lowered = name.lower()
    if lowered in CREDENTIAL_HEADERS or re.sub(r"[-_.]", "", lowered) in _ONE_WORD:
        return True
    return bool(_SECRET_NAME.search(name) or _SECRET_CAMEL.search(name))


def _value(text: str) -> str:
    """A credential's value masked, its scheme kept (``Key abc`` -> ``Key redacted:...``)."""
    scheme, space, rest = text.partition(" ")
    if space and _SCHEME_VALUE.match(text):
        return f"{scheme} {fingerprint(rest.strip())}"
    return fingerprint(text)


def url(text: str) -> str:
    """A URL with its password and credential parameters masked; anything else returned as given."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return _URL_USER.sub("redacted@", text)
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "redacted@" + netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, query(parts.query), parts.fragment))


def query(text: str) -> str:
    """A query string (or form body) with credential fields masked and URLs in it cleaned."""
    if not text:
        return text
    fields = parse_qsl(text, keep_blank_values=True)
    cleaned = [(k, _field(k, v)) for k, v in fields]
    return text if cleaned == fields else urlencode(cleaned, safe=":")


def _field(name: str, value: str) -> str:
    if secret_name(name):
        return _value(value) if value else value
    return url(value) if "://" in value else value


def _json(value: Any, name: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _json(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v, name) for v in value]
    if isinstance(value, str):
        return _field(name, value)
    if secret_name(name) and value is not None and not isinstance(value, bool):
        return fingerprint(str(value))
    return value


_JSON_MEMBER = re.compile(r'("([^"\\]*)"\s*:\s*")((?:[^"\\]|\\.)*)(")')


def body(text: str, content_type: str) -> str:
    """A request or response body as the journal shows it (text), with credentials masked."""
    if not text or text.startswith("<"):  # empty, or "<N bytes type>" for a binary body
        return text
    if "json" in content_type:
        try:  # within the bounds a request body had (a 600-deep one, refused, is journaled all the same
            parsed = parse_json(text)  # and json.loads took it: the walk below hit the recursion limit)
        except BadBody:  # cut at the journal's 4 KiB, too deep, or not JSON at all: member by member
            return _JSON_MEMBER.sub(
                lambda m: m.group(1) + _field(m.group(2), m.group(3)) + m.group(4), _URL_USER.sub("redacted@", text)
            )
        cleaned = _json(parsed)
        return text if cleaned == parsed else json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))
    if "form-urlencoded" in content_type:
        return query(text)
    return _URL_USER.sub("redacted@", text)


def headers(shown: dict[str, str]) -> dict[str, str]:
    return {k: (_value(v) if secret_name(k) else url(v) if "://" in v else v) for k, v in shown.items()}


def entry(shown: dict[str, Any]) -> dict[str, Any]:
    """A journal entry (``Entry.to_dict``) as shown without ``?reveal=credentials``."""
    request_headers, response_headers = shown["request_headers"], shown["response_headers"]
    return {
        **shown,
        "key": fingerprint(shown["key"]) if shown.get("key") else shown.get("key"),
        "query": query(shown["query"]),
        "request_headers": headers(request_headers),
        "request_body": body(shown["request_body"], request_headers.get("content-type", "")),
        "response_headers": headers(response_headers),
        "response_body": body(shown["response_body"], response_headers.get("content-type", "")),
    }


def delivery(shown: dict[str, Any]) -> dict[str, Any]:
    """A webhook delivery (``Delivery.summary``): its URL, payload and each attempt's headers cleaned."""
    attempts = [{**a, "headers": headers(a.get("headers", {}))} for a in shown.get("attempts", [])]
    return {**shown, "url": url(shown["url"]), "payload": _json(shown["payload"]), "attempts": attempts}


def job(shown: dict[str, Any]) -> dict[str, Any]:
    """A job as ``/__mock/jobs`` shows it: its webhook URL's password and credential parameters, and
    credential-named members of its input, masked as in the journal. ``owner`` (the key) stays: the
    account it is billed to is addressed by it (``/__mock/accounts/{provider}/{key}``)."""
    hook = shown.get("webhook_url")
    cleaned = {**shown, "webhook_url": url(hook) if hook else hook}
    if "input" in shown:
        cleaned["input"] = fields(shown["input"])
    return cleaned


def fields(value: Any) -> Any:
    """A JSON value (a job's input) with credential-named members masked and URLs in it cleaned."""
    return _json(value)
