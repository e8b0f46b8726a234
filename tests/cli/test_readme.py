"""The README's first hour, run as written against a live `cutout-mock serve`.

Every `curl` line (in a shell or CI block, or inline in the text) and every Python example that talks to
http://127.0.0.1:8080 runs in the README's order, in one working directory (so the `curl -o` lines
supply the files later examples open), with only the port swapped for a free one. The control plane's
`<request_id>` and `<delivery_id>` are filled with a real fal job (held running, with a webhook to a
local receiver) and its delivery, `<next_cursor ...>` with the cursor of a real page. A line carrying
`# not run in CI` would be skipped; none does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.server.live import serve_process

README = Path(__file__).parents[2] / "README.md"
MAIN = "http://127.0.0.1:8080"
NOT_RUN = "# not run in CI"


@dataclass(frozen=True)
class Example:
    kind: str  # "sh" (one curl line) or "python" (a whole block)
    text: str
    line: int


def examples(markdown: str) -> list[Example]:
    """The README's curl lines and Python blocks, in order."""
    found: list[Example] = []
    fence: str | None = None
    block: list[str] = []
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            if fence is None:
                fence, block, start = stripped[3:] or "text", [], number + 1
            else:
                if fence == "python":
                    found.append(Example("python", "\n".join(block), start))
                fence = None
            continue
        if fence is None:
            found += [Example("sh", span, number) for span in re.findall(r"`(curl [^`]+)`", line)]
        elif fence == "python":
            block.append(line[len(line) - len(line.lstrip()) :] if not block else line)
        else:
            command = stripped.removeprefix("- run: ")
            if command.startswith("curl "):
                found.append(Example("sh", command, number))
    return found


def _runnable() -> list[Example]:
    return [e for e in examples(README.read_text()) if MAIN in e.text and NOT_RUN not in e.text]


def test_every_curl_line_names_a_full_url() -> None:
    """Debian's curl 7.88 refuses `curl :8080/...` (URL using bad/illegal format)."""
    curls = [e for e in examples(README.read_text()) if e.kind == "sh"]
    assert len(curls) >= 28
    for example in curls:
        assert not re.search(r"""[\s'"]:\d+/""", example.text), f"README line {example.line}: {example.text}"
        assert "http://" in example.text, f"README line {example.line}: {example.text}"


def test_the_python_examples_are_found() -> None:
    pythons = [e for e in _runnable() if e.kind == "python"]
    assert len(pythons) == 4  # one per provider
    assert all(e.text.startswith("import") for e in pythons)


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _webhook_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


class _Placeholders:
    """Real ids for the README's `<request_id>` and `<delivery_id>`, made when a line first needs them."""

    def __init__(self, base: str, receiver: str) -> None:
        self.base, self.receiver, self.ids = base, receiver, {}

    def fill(self, text: str) -> str:
        for placeholder, name in re.findall(r"(<(request_id|delivery_id|next_cursor)(?: [^>]*)?>)", text):
            if name not in self.ids:
                self.ids[name] = getattr(self, name)()
            text = text.replace(placeholder, self.ids[name])
        return text

    def request_id(self) -> str:
        url = f"{self.base}/fal/queue/pixelcut/video-background-removal?fal_webhook={quote(self.receiver)}"
        job = {"video_url": "https://example.com/mock-stuck.mp4"}  # held running until forced
        r = httpx.post(url, json=job, headers={"Authorization": "Key readme"}, timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["request_id"])

    def next_cursor(self) -> str:
        """`<next_cursor of the page before>`: the cursor of a one-job first page (of the `<request_id>`
        job and one more, when the lines before made fewer than two)."""
        page = httpx.get(f"{self.base}/__mock/jobs?limit=1", timeout=10).json()
        if page["next_cursor"] is None:
            self.ids.setdefault("request_id", self.request_id())
            self.request_id()
            page = httpx.get(f"{self.base}/__mock/jobs?limit=1", timeout=10).json()
        assert page["next_cursor"], f"fewer than two jobs to page through: {page}"
        return quote(str(page["next_cursor"]), safe="")

    def delivery_id(self) -> str:
        deadline = time.monotonic() + 30
        while True:
            deliveries = httpx.get(f"{self.base}/__mock/webhooks?provider=fal", timeout=10).json()["deliveries"]
            if deliveries or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert deliveries, "no fal webhook delivery to replay"
        return str(deliveries[0]["id"])


def _run(example: Example, text: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if example.kind == "python":
        script = cwd / f"readme_line_{example.line}.py"
        script.write_text(text)
        return subprocess.run(
            [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
    strict = re.sub(r"(^|;\s*)curl ", r"\1curl -sS --fail-with-body ", text)  # an HTTP error fails the line
    return subprocess.run(["bash", "-ec", strict], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's shell lines need curl")
def test_the_readme_runs_as_written_against_a_live_mock(tmp_path: Path) -> None:
    runnable = _runnable()
    assert len(runnable) >= 30
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    work = tmp_path / "work"
    work.mkdir()
    with _webhook_receiver() as receiver, serve_process(tmp_path / "state", "--speed", "10") as (_, base, _banner):
        placeholders = _Placeholders(base, receiver)
        for example in runnable:
            text = placeholders.fill(example.text.replace(MAIN, base))
            done = _run(example, text, work, env)
            assert done.returncode == 0, f"README line {example.line}:\n{text}\n{done.stdout}\n{done.stderr}"
    assert (work / "product.jpg").stat().st_size > 0 and (work / "sample.mp4").stat().st_size > 0
