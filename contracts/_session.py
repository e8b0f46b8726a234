"""A configured mock for a test or a block of code: ``contracts.mock(...)`` in this process (the
providers' real hosts intercepted for httpx), ``contracts.mock_server(...)`` on a real 127.0.0.1 port.

    with contracts.mock(provider="fal") as cutout:         # or @contracts.mock(provider="fal")
        fal_client.subscribe(...)                           # unmodified: queue.fal.run is the mock
        cutout.control.list_jobs()

Each entry sets the mock up as asked (reset, clock, limits, progression, engine, scenario); the
pytest plugin's ``cutout_mock`` and ``cutout_server`` fixtures are these sessions over one mock kept
for the whole test session, so a test's set-up costs a reset, not a start.
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import yaml

from contracts._inprocess import BASE_URL, InProcessMock, intercept, surface_hosts
from contracts.control import PROVIDERS, MockControl
from mockserver.settings import Settings

if TYPE_CHECKING:
    from contracts._live import LiveServer

CLOCKS = ("virtual", "real")
PROGRESSIONS = ("polls", "timed")
ENGINES = ("auto", "classic", "u2netp")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Options:
    """How a session sets the mock up. Made with a bad value, it raises ValueError naming it.

    Defaults suit a test: a frozen clock, rate limits off, and jobs that move on polls (queued,
    running, then done on the third status poll), so SDKs that poll on their own finish without
    anyone moving the clock; ``progression="timed"`` makes jobs follow the clock instead."""

    provider: str | None = None
    scenario: dict[str, Any] | str | Path | None = None  # a scenario document, or a YAML/JSON file
    clock: str = "virtual"
    progression: str = "polls"
    rate_limits: bool = False
    engine: str = "auto"  # or "onnx:PATH"

    def __post_init__(self) -> None:
        if self.provider is not None and self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}")
        if self.progression not in PROGRESSIONS:
            raise ValueError(f"progression must be one of {PROGRESSIONS}")
        if self.engine not in ENGINES and not self.engine.startswith("onnx:"):
            raise ValueError(f"engine must be one of {ENGINES} or 'onnx:PATH'")

    def apply(self, control: MockControl, settings: Settings, root: Path) -> None:
        """A fresh mock as asked: reset, clock, limits, progression, engine, scenario (a relative
        scenario file is found under `root`)."""
        control.reset()
        if self.clock == "virtual":
            control.freeze_clock()
        else:
            control.run_clock()
        if self.rate_limits:
            control.set_rate_limits(True)
        settings.progression = self.progression  # read per job, so it applies from the next submit
        settings.engine = self.engine  # likewise
        document = self._scenario_document(root)
        if document:
            control.load_scenario(document)

    def _scenario_document(self, root: Path) -> dict[str, Any] | None:
        if self.scenario is None or isinstance(self.scenario, dict):
            return self.scenario
        path = Path(self.scenario)
        document = yaml.safe_load((path if path.is_absolute() else root / path).read_text())
        if not isinstance(document, dict):
            raise ValueError(f"scenario {path}: a scenario file holds one mapping (seed, clock, accounts, faults...)")
        return document


class _Session(ABC):
    """What both kinds of session share: enter sets the mock up, exit undoes what entering did."""

    def __init__(self, options: Options, root: Path | None) -> None:
        self.options, self.provider = options, options.provider
        self._root = root or Path.cwd()
        self._exit: ExitStack | None = None
        self.control: MockControl

    @abstractmethod
    def _enter(self, stack: ExitStack) -> None:
        """Start this kind of mock on `stack` and set `control`."""

    def __enter__(self) -> Any:
        if self._exit is not None:
            raise RuntimeError("this mock session is already entered")
        with ExitStack() as stack:
            self._enter(stack)
            self._exit = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        stack, self._exit = self._exit, None
        if stack is not None:
            stack.close()

    def __call__(self, function: F) -> F:
        """As a decorator: each call of `function` runs inside a fresh set-up, and gets this session
        as its ``cutout`` argument if it takes one."""
        signature = inspect.signature(function)
        takes = "cutout" in signature.parameters

        def arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
            return {**kwargs, "cutout": self} if takes else kwargs

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await function(*args, **arguments(kwargs))
        else:

            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return function(*args, **arguments(kwargs))

        # pytest reads the signature for fixtures: `cutout` is ours to give, not a fixture to find.
        kept = [p for name, p in signature.parameters.items() if name != "cutout"]
        wrapper.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    def advance(self, seconds: float) -> None:
        """Move the frozen clock and send the webhooks that fall due."""
        self.control.advance_clock(seconds)
        self.control.flush_webhooks()


class CutoutMock(_Session):
    """The mock in this process; every provider's real host (queue.fal.run, api.pixelapi.dev...)
    answered from it for httpx clients, sync and async; other hosts pass through.

    Give it `app` to reuse a mock (the plugin keeps one per test session); without one, entering
    starts a mock of its own and exiting stops it."""

    def __init__(self, options: Options | None = None, *, app: InProcessMock | None = None, root: Path | None = None):
        super().__init__(options or Options(), root)
        self._shared = app

    def _enter(self, stack: ExitStack) -> None:
        mock = self._shared or _own_mock(stack)
        self.app, self.settings = mock.app, mock.settings
        self.transport, self.async_transport = mock.transport, mock.async_transport
        self.control = stack.enter_context(
            MockControl(BASE_URL, transport=mock.transport, token=mock.settings.control_token)
        )
        self.options.apply(self.control, mock.settings, self._root)
        self._hosts = mock.hosts
        stack.enter_context(intercept(mock, {*self._hosts.values(), "testserver"}))

    def base_url(self, surface: str | None = None) -> str:
        """The real base URL of a surface (``fal-queue``, ``pixelcut-api``...; default: the provider's
        first), which this session intercepts."""
        if surface is None:
            if self.provider is None:
                raise ValueError("name a surface (e.g. 'fal-queue') or set provider=")
            surface = next(s for s in self._hosts if s.startswith(self.provider + "-"))
        return f"https://{self._hosts[surface]}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on the mock's own paths (``/fal/queue/...``, ``/__mock/...``)."""
        return httpx.Client(transport=self.transport, base_url=BASE_URL, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.async_transport, base_url=BASE_URL, **kwargs)


class CutoutServer(_Session):
    """The mock on a real 127.0.0.1 port (``url``), for ``requests`` and any other HTTP library.

    Give it `server` to reuse one (the plugin keeps one per test session); without one, entering
    starts a server of its own and exiting stops it."""

    def __init__(self, options: Options | None = None, *, server: LiveServer | None = None, root: Path | None = None):
        super().__init__(options or Options(), root)
        self._shared = server

    def _enter(self, stack: ExitStack) -> None:
        server = self._shared or _own_server(stack)
        self.url, self._token = server.url, server.settings.control_token
        self.control = stack.enter_context(MockControl(server.url, token=server.settings.control_token))
        self.options.apply(self.control, server.settings, self._root)

    @property
    def dashboard_url(self) -> str:
        """This mock's dashboard (``/__mock/ui``): jobs live, the journal, webhooks and controls.
        Under a control token the link carries it (the dashboard keeps it in a cookie)."""
        return f"{self.url}/__mock/ui" + (f"?token={self._token}" if self._token else "")

    @property
    def journal_url(self) -> str:
        """The dashboard's journal: this test's requests (each test starts on a reset mock)."""
        return f"{self.url}/__mock/ui/journal" + (f"?token={self._token}" if self._token else "")

    def base_url(self, provider_or_surface: str) -> str:
        """Where a provider (or one surface, ``fal-queue``) is served on this port."""
        for provider in self.control.list_providers():
            for surface in provider["surfaces"]:
                if provider_or_surface in (provider["name"], f"{provider['name']}-{surface['name']}"):
                    return str(surface["mock_base_url"])
        raise KeyError(provider_or_surface)

    def hosts(self) -> dict[str, str]:
        """Every surface's real host by name (``fal-queue`` -> ``queue.fal.run``)."""
        return surface_hosts(self.control)


def session_settings(state_dir: Path, **overrides: Any) -> Settings:
    """The settings of a session's own mock: the test settings, jobs moving on polls."""
    return Settings.for_tests(state_dir=state_dir, progression="polls", **overrides)


def _own_mock(stack: ExitStack) -> InProcessMock:
    state = stack.enter_context(tempfile.TemporaryDirectory(prefix="cutout-mock-"))
    return stack.enter_context(closing(InProcessMock(session_settings(Path(state)))))


def _own_server(stack: ExitStack) -> LiveServer:
    from contracts._live import LiveServer  # uvicorn: only when a real port is asked for

    state = stack.enter_context(tempfile.TemporaryDirectory(prefix="cutout-server-"))
    return stack.enter_context(LiveServer(session_settings(Path(state), port=0)))


def mock(
    *,
    provider: str | None = None,
    scenario: dict[str, Any] | str | Path | None = None,
    clock: str = "virtual",
    progression: str = "polls",
    rate_limits: bool = False,
    engine: str = "auto",
) -> CutoutMock:
    """The mock in this process, set up as asked: a context manager or a decorator (see ``Options``
    for the defaults)."""
    return CutoutMock(Options(provider, scenario, clock, progression, rate_limits, engine))


def mock_server(
    *,
    provider: str | None = None,
    scenario: dict[str, Any] | str | Path | None = None,
    clock: str = "virtual",
    progression: str = "polls",
    rate_limits: bool = False,
    engine: str = "auto",
) -> CutoutServer:
    """The mock on a real 127.0.0.1 port, set up as asked: a context manager or a decorator."""
    return CutoutServer(Options(provider, scenario, clock, progression, rate_limits, engine))
