"""The pytest plugin (entry point ``cutout_mock``): the mock one fixture away, without network.

Fixtures:

- ``cutout_mock``: the mock app in this process. Every provider's real hostname (queue.fal.run,
  api.developer.pixelcut.ai, gateway.pixazo.ai, api.pixelapi.dev, ...) is intercepted with respx
  for httpx clients, sync and async, so unmodified code and SDKs (fal-client) talk to the mock.
  ``cutout_mock.control`` is a ``MockControl``; state is reset before each test.
- ``cutout_server``: the mock on a real 127.0.0.1 port, for ``requests`` and other non-httpx clients.
- ``webhook_receiver``: a real local endpoint that records deliveries.

Marker: ``@pytest.mark.cutout(provider="fal", scenario={...} | "file.yaml", clock="virtual" | "real",
progression="polls" | "timed", rate_limits=False, engine="auto" | "classic" | "u2netp" | "onnx:PATH")``.

Defaults suit a test: a frozen clock, rate limits off, seed 0, and jobs that move on polls (queued,
running, then done on the third status poll), so SDKs that poll on their own finish without anyone
moving the clock; ``progression="timed"`` makes jobs follow the clock instead (``advance``).
Mocks live for the session; per test they are reset (so set-up costs a reset, not a start).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from contracts.control import PROVIDERS, MockControl
from contracts.inprocess import BASE_URL, InProcessMock, intercept
from contracts.live import LiveServer
from contracts.receiver import WebhookReceiver
from mockserver.settings import Settings

MARKER = "cutout"
CLOCKS = ("virtual", "real")
PROGRESSIONS = ("polls", "timed")
ENGINES = ("auto", "classic", "u2netp")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(provider=None, scenario=None, clock='virtual', progression='polls', rate_limits=False, "
        "engine='auto'): "
        "set up the cutout-mock fixtures for this test",
    )


@dataclass(frozen=True)
class Options:
    provider: str | None = None
    scenario: dict[str, Any] | str | Path | None = None
    clock: str = "virtual"
    progression: str = "polls"
    rate_limits: bool = False
    engine: str = "auto"

    @classmethod
    def of(cls, request: pytest.FixtureRequest) -> Options:
        marker = request.node.get_closest_marker(MARKER)
        options = cls(*(marker.args if marker else ()), **(marker.kwargs if marker else {}))
        if options.provider is not None and options.provider not in PROVIDERS:
            raise pytest.UsageError(f"cutout marker: provider must be one of {PROVIDERS}")
        if options.clock not in CLOCKS:
            raise pytest.UsageError(f"cutout marker: clock must be one of {CLOCKS}")
        if options.progression not in PROGRESSIONS:
            raise pytest.UsageError(f"cutout marker: progression must be one of {PROGRESSIONS}")
        if options.engine not in ENGINES and not options.engine.startswith("onnx:"):
            raise pytest.UsageError(f"cutout marker: engine must be one of {ENGINES} or 'onnx:PATH'")
        return options

    def scenario_document(self, root: Path) -> dict[str, Any] | None:
        if self.scenario is None or isinstance(self.scenario, dict):
            return self.scenario
        path = Path(self.scenario)
        return yaml.safe_load((path if path.is_absolute() else root / path).read_text())


def _prepare(control: MockControl, settings: Settings, options: Options, root: Path) -> None:
    """A fresh mock as the test's marker asks: reset, clock, limits, progression, scenario."""
    control.reset()
    if options.clock == "virtual":
        control.freeze_clock()
    else:
        control.run_clock()
    if options.rate_limits:
        control.set_rate_limits(True)
    settings.progression = options.progression  # read per job, so it applies from the next submit
    settings.engine = options.engine  # likewise
    document = options.scenario_document(root)
    if document:
        control.load_scenario(document)


class CutoutMock:
    """The in-process mock of one test: its control handle and a few shortcuts."""

    def __init__(self, mock: InProcessMock, control: MockControl, provider: str | None, hosts: dict[str, str]) -> None:
        self.app, self.control, self.provider = mock.app, control, provider
        self.transport, self.async_transport = mock.transport, mock.async_transport
        self._hosts = hosts  # surface name -> real host

    def base_url(self, surface: str | None = None) -> str:
        """The real base URL of a surface (``fal-queue``, ``pixelcut-api``...; default: the marker's
        provider's first), which this test intercepts."""
        if surface is None:
            if self.provider is None:
                raise ValueError("name a surface (e.g. 'fal-queue') or set provider= in @pytest.mark.cutout")
            surface = next(s for s in self._hosts if s.startswith(self.provider + "-"))
        return f"https://{self._hosts[surface]}"

    def advance(self, seconds: float) -> None:
        """Move the frozen clock and send the webhooks that fall due."""
        self.control.advance_clock(seconds)
        self.control.flush_webhooks()

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on the mock's own paths (``/fal/queue/...``, ``/__mock/...``)."""
        return httpx.Client(transport=self.transport, base_url=BASE_URL, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.async_transport, base_url=BASE_URL, **kwargs)


def _surfaces(provider: dict[str, Any]) -> list[dict[str, str]]:
    return [{**s, "name": f"{provider['name']}-{s['name']}"} for s in provider["surfaces"]]


@pytest.fixture(scope="session")
def _cutout_in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessMock]:
    mock = InProcessMock(Settings.for_tests(state_dir=tmp_path_factory.mktemp("cutout-mock"), progression="polls"))
    yield mock
    mock.close()


@pytest.fixture(scope="session")
def _cutout_hosts(_cutout_in_process: InProcessMock) -> dict[str, str]:
    """Every surface's real host (``fal-queue`` -> ``queue.fal.run``), asked once per session."""
    with MockControl(BASE_URL, transport=_cutout_in_process.transport) as control:
        return {s["name"]: s["host"] for p in control.list_providers() for s in _surfaces(p)}


@pytest.fixture
def cutout_mock(
    request: pytest.FixtureRequest, _cutout_in_process: InProcessMock, _cutout_hosts: dict[str, str]
) -> Iterator[CutoutMock]:
    """The mock in this process, the providers' real hosts intercepted for httpx (sync and async)."""
    options = Options.of(request)
    control = MockControl(BASE_URL, transport=_cutout_in_process.transport)
    _prepare(control, _cutout_in_process.settings, options, request.config.rootpath)
    handle = CutoutMock(_cutout_in_process, control, options.provider, _cutout_hosts)
    with intercept(_cutout_in_process, {*_cutout_hosts.values(), "testserver"}):
        yield handle
    control.close()


@dataclass
class CutoutServer:
    url: str
    control: MockControl

    def base_url(self, provider_or_surface: str) -> str:
        """Where a provider (or one surface, ``fal-queue``) is served on this port."""
        for provider in self.control.list_providers():
            for surface in _surfaces(provider):
                if provider_or_surface in (provider["name"], surface["name"]):
                    return str(surface["mock_base_url"])
        raise KeyError(provider_or_surface)

    def advance(self, seconds: float) -> None:
        self.control.advance_clock(seconds)
        self.control.flush_webhooks()


@pytest.fixture(scope="session")
def _cutout_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings.for_tests(state_dir=tmp_path_factory.mktemp("cutout-server"), progression="polls", port=0)
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def cutout_server(request: pytest.FixtureRequest, _cutout_live: LiveServer) -> Iterator[CutoutServer]:
    """The mock on a real 127.0.0.1 port (``cutout_server.url``), reset for this test."""
    options = Options.of(request)
    with MockControl(_cutout_live.url) as control:
        _prepare(control, _cutout_live.settings, options, request.config.rootpath)
        yield CutoutServer(_cutout_live.url, control)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real endpoint on 127.0.0.1 recording deliveries: ``.url``, ``.deliveries``, ``.respond_with()``."""
    with WebhookReceiver() as receiver:
        yield receiver
