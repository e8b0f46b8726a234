"""Where the mock's own outgoing requests go: its own URLs in-process, samples generated, the rest guarded."""

from __future__ import annotations

from typing import Any

import httpx

from mockserver.engine import inputs
from mockserver.engine.addresses import guarded_transport
from mockserver.engine.errors import ForbiddenAddress
from mockserver.runtime.samples import SampleTransport


class SelfRoutingTransport(httpx.AsyncBaseTransport):
    """Outgoing requests (input fetches, webhooks): the mock's own URLs in-process, documented sample
    URLs from the sample generator, everything else over the network behind the address policy
    (engine/addresses.py, checked on the address each connection is made to).

    "Own" is a provider's real hostname, ``testserver``, or this server's exact host and port;
    anything else on loopback (a user's file server, a webhook receiver) is a different server. No
    control plane is reachable this way, on any host (this mock's under another name, another mock
    on the machine): a webhook or input URL aimed at ``/__mock`` would let any API caller reset or
    re-fund a mock.
    """

    def __init__(self, app: Any, own_hosts: set[str], policy: inputs.FetchPolicy) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._samples = SampleTransport()
        self._network = guarded_transport(policy.allow_private)
        self._own_hosts = own_hosts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if request.url.path.lstrip("/").split("/", 1)[0] == "__mock":
            raise ForbiddenAddress("a mock's control plane is not reachable from inputs or webhooks")
        if self._samples.serves(request.url):
            return await self._samples.handle_async_request(request)
        if host in self._own_hosts or f"{host}:{request.url.port}" in self._own_hosts:
            return await self._asgi.handle_async_request(request)
        return await self._network.handle_async_request(request)

    async def aclose(self) -> None:
        await self._network.aclose()
