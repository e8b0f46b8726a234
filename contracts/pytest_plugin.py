"""The pytest plugin (entry point ``cutout_mock``): the kit's sessions (``contracts.mock``,
``contracts.mock_server``) as fixtures, one mock kept for the test session and reset per test.

- ``cutout_mock``: the mock in this process; every provider's real host (queue.fal.run,
  api.pixelapi.dev, ...) is answered from it for httpx clients, so unmodified SDKs talk to it.
- ``cutout_server``: the mock on a real 127.0.0.1 port, for ``requests`` and other clients.
- ``webhook_receiver``: a real local endpoint that records deliveries.

A failed test that used ``cutout_server`` names its dashboard (``cutout_server.dashboard_url``) and
journal in its report.

Marker: ``@pytest.mark.cutout(provider=, scenario=, clock=, progression=, rate_limits=, engine=)``,
the options of ``contracts.mock``. Loading the plugin imports nothing heavy: the mock, numpy and
the server load with the first fixture that needs them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from contracts._inprocess import InProcessMock
    from contracts._live import LiveServer
    from contracts._receiver import WebhookReceiver
    from contracts._session import CutoutMock, CutoutServer, Options

MARKER = "cutout"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(provider=None, scenario=None, clock='virtual', progression='polls', rate_limits=False, "
        "engine='auto'): set up the cutout-mock fixtures for this test",
    )


def _options(request: pytest.FixtureRequest) -> Options:
    from contracts._session import Options

    marker = request.node.get_closest_marker(MARKER)
    try:
        return Options(*(marker.args if marker else ()), **(marker.kwargs if marker else {}))
    except (TypeError, ValueError) as problem:
        raise pytest.UsageError(f"{MARKER} marker: {problem}") from None


@pytest.fixture(scope="session")
def _cutout_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessMock]:
    from contracts._inprocess import InProcessMock
    from contracts._session import session_settings

    mock = InProcessMock(session_settings(tmp_path_factory.mktemp("cutout-mock")))
    yield mock
    mock.close()


@pytest.fixture
def cutout_mock(request: pytest.FixtureRequest, _cutout_app: InProcessMock) -> Iterator[CutoutMock]:
    """The mock in this process, reset and set up by this test's marker; real hosts intercepted."""
    from contracts._session import CutoutMock

    with CutoutMock(_options(request), app=_cutout_app, root=request.config.rootpath) as session:
        yield session


@pytest.fixture(scope="session")
def _cutout_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from contracts._live import LiveServer
    from contracts._session import session_settings

    with LiveServer(session_settings(tmp_path_factory.mktemp("cutout-server"), port=0)) as server:
        yield server


@pytest.fixture
def cutout_server(request: pytest.FixtureRequest, _cutout_live: LiveServer) -> Iterator[CutoutServer]:
    """The mock on a real 127.0.0.1 port (``cutout_server.url``), reset for this test."""
    from contracts._session import CutoutServer

    with CutoutServer(_options(request), server=_cutout_live, root=request.config.rootpath) as session:
        yield session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used ``cutout_server`` names the dashboard and its journal in its report."""
    report = yield
    session = getattr(item, "funcargs", {}).get("cutout_server")
    if report.failed and session is not None:
        report.sections.append(("cutout-mock", f"dashboard: {session.dashboard_url}\njournal: {session.journal_url}"))
    return report


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real endpoint on 127.0.0.1 recording deliveries: ``.url``, ``.deliveries``, ``.respond_with()``."""
    from contracts._receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver
