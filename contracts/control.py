"""``MockControl``: the control plane (``openapi/control.yaml``) as a Python client, one method per
operationId, over plain HTTP, so it drives a mock in this process, in another one, or on another
machine the same way.

    control = MockControl("http://127.0.0.1:8080")
    control.add_fault("status", provider="fal", operation="queue_status", status=503, times=2)
    control.advance_clock(5)

Lists come back unwrapped (``list_jobs()`` is the list of jobs); a refusal raises
``MockControlError`` with the control plane's status and detail. A mock started with a control token
(``serve --control-token``, or the one ``serve`` printed) takes it as ``token=`` or from
``CUTOUT_MOCK_CONTROL_TOKEN``, the variable ``serve`` reads it from; it is sent as
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import os
from typing import Any, cast

import httpx

PROVIDERS = ("pixelcut", "fal", "pixazo", "pixelapi")
TOKEN_VARIABLE = "CUTOUT_MOCK_CONTROL_TOKEN"
Json = dict[str, Any]
PAGE, PAGE_MAX = 100, 1000  # the control plane's default and largest page of jobs or journal entries


class MockControlError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


def _query(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


class MockControl:
    """A client of one mock's ``/__mock``. Pass `transport` to reach an in-process app, `token` for a
    mock that needs one (default: ``$CUTOUT_MOCK_CONTROL_TOKEN``, if set)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        transport: httpx.BaseTransport | None = None,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        token = token or os.environ.get(TOKEN_VARIABLE) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url + "/__mock", transport=transport, timeout=60, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MockControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise MockControlError(response.status_code, str(detail))
        if response.status_code == 204:
            return None
        return response.json()

    def _object(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Json:
        return cast(Json, self._call(method, path, json=json, params=params))

    def _items(self, path: str, name: str, params: dict[str, Any] | None = None) -> list[Json]:
        """A list the control plane wraps in an object (``{"jobs": [...]}``), unwrapped."""
        return cast(list[Json], self._call("GET", path, params=params)[name])

    # --- state ------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._object("GET", "/health")

    def list_providers(self) -> list[dict[str, Any]]:
        """Each provider's surfaces: real host, path prefix, and base URL on this mock."""
        return self._items("/providers", "providers")

    def get_openapi(self) -> dict[str, Any]:
        """The control plane's own OpenAPI document."""
        return self._object("GET", "/openapi.json")

    def get_sample(self, name: str) -> bytes:
        """A generated sample input, e.g. ``person.png`` or ``clip.mp4``."""
        response = self._http.get(f"/samples/{name}")
        if response.status_code != 200:
            raise MockControlError(response.status_code, response.text)
        return response.content

    def reset(self) -> dict[str, Any]:
        return self._object("POST", "/reset")

    def set_seed(self, seed: int) -> dict[str, Any]:
        return self._object("POST", "/seed", json={"seed": seed})

    def load_scenario(self, document: dict[str, Any]) -> dict[str, Any]:
        """Apply a scenario (the same document as ``serve --scenario FILE``)."""
        return self._object("POST", "/scenario", json=document)

    def get_journal(
        self,
        provider: str | None = None,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The last `limit` matching entries (the server's page, 100, when None), oldest first: more than
        one page (1000) is fetched a page at a time, following ``next_cursor`` to older entries."""
        params = _query(provider=provider, key=key, path=path, method=method)
        wanted = limit if limit is not None else PAGE
        pages: list[list[Json]] = []
        got, cursor = 0, None
        while got < wanted:
            page = self._call(
                "GET", "/journal", params={**params, **_query(limit=min(wanted - got, PAGE_MAX), cursor=cursor)}
            )
            pages.append(page["entries"])
            got += len(page["entries"])
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        return [entry for page in reversed(pages) for entry in page]

    # --- clock ------------------------------------------------------------------------------------

    def get_clock(self) -> dict[str, Any]:
        return self._object("GET", "/clock")

    def advance_clock(self, seconds: float = 0.0, *, to: float | None = None) -> dict[str, Any]:
        body = {"to": to} if to is not None else {"advance": seconds}
        return self._object("POST", "/clock", json=body)

    def freeze_clock(self) -> dict[str, Any]:
        return self._object("POST", "/clock/freeze")

    def run_clock(self, speed: float | None = None) -> dict[str, Any]:
        return self._object("POST", "/clock/real", json=_query(speed=speed))

    # --- jobs -------------------------------------------------------------------------------------

    def list_jobs(
        self, provider: str | None = None, key: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Every matching job, oldest first (fetched a page of 1000 at a time, following ``next_cursor``)."""
        params = _query(provider=provider, key=key, state=state, limit=PAGE_MAX)
        jobs: list[Json] = []
        while True:
            page = self._call("GET", "/jobs", params=params)
            jobs += page["jobs"]
            if page.get("next_cursor") is None:
                return jobs
            params["cursor"] = page["next_cursor"]

    def get_job(self, provider: str, job_id: str) -> dict[str, Any]:
        return self._object("GET", f"/jobs/{provider}/{job_id}")

    def force_job(self, provider: str, job_id: str, state: str) -> dict[str, Any]:
        """Move a job now: a state of the job model, or ``release`` to let it run on."""
        return self._object("POST", f"/jobs/{provider}/{job_id}/state", json={"state": state})

    # --- accounts ---------------------------------------------------------------------------------

    def list_accounts(self, provider: str | None = None) -> list[dict[str, Any]]:
        return self._items("/accounts", "accounts", _query(provider=provider))

    def get_account(self, provider: str, key: str) -> dict[str, Any]:
        return self._object("GET", f"/accounts/{provider}/{key}")

    def put_account(
        self, provider: str, key: str, *, balance: float | None = None, plan: str | None = None
    ) -> dict[str, Any]:
        return self._object("PUT", f"/accounts/{provider}/{key}", json=_query(balance=balance, plan=plan))

    def delete_account(self, provider: str, key: str) -> None:
        self._call("DELETE", f"/accounts/{provider}/{key}")

    # --- faults and limits ------------------------------------------------------------------------

    def list_faults(self) -> dict[str, Any]:
        """Rules, and the named scenarios and magic inputs there are."""
        return self._object("GET", "/faults")

    def add_fault(self, action: str, **match_and_effect: Any) -> dict[str, Any]:
        """One rule: ``add_fault("status", provider="fal", status=503, times=2)``."""
        return self._object("POST", "/faults", json={"action": action, **match_and_effect})

    def clear_faults(self) -> dict[str, Any]:
        return self._object("DELETE", "/faults")

    def delete_fault(self, rule_id: str) -> None:
        self._call("DELETE", f"/faults/{rule_id}")

    def get_rate_limits(self) -> dict[str, Any]:
        return self._object("GET", "/ratelimits")

    def set_rate_limits(
        self,
        enabled: bool | None = None,
        *,
        provider: str | None = None,
        requests: int | None = None,
        window: float | None = None,
    ) -> dict[str, Any]:
        body = _query(enabled=enabled, provider=provider, requests=requests, window=window)
        return self._object("POST", "/ratelimits", json=body)

    def get_prices(self) -> dict[str, Any]:
        return self._object("GET", "/prices")

    def set_prices(self, *, pixelapi: str | None = None, pixelcut_video_credits: float | None = None) -> dict[str, Any]:
        """PixelAPI's price set (``table`` or ``pages``) and Pixelcut's video credits per 30 frames."""
        body = _query(pixelapi=pixelapi, pixelcut_video_credits=pixelcut_video_credits)
        return self._object("POST", "/prices", json=body)

    # --- webhooks ---------------------------------------------------------------------------------

    def list_webhooks(self, provider: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        return self._items("/webhooks", "deliveries", _query(provider=provider, job_id=job_id))

    def flush_webhooks(self) -> int:
        """Attempt every delivery due now; how many were attempted."""
        return int(self._call("POST", "/webhooks/flush")["attempted"])

    def replay_webhook(self, delivery_id: str) -> dict[str, Any]:
        return self._object("POST", f"/webhooks/{delivery_id}/replay")
