"""The official JavaScript client, @fal-ai/client from npm, on node, through every path against the mock.

One line of configuration (a proxyUrl on the mock: the fal proxy protocol, target URL in
``x-fal-target-url``); the script (js/fal_paths.mjs) is the fal docs' code otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mockserver.runtime.samples import sample
from tests.clients.conftest import NPM_DIR

SCRIPT = Path(__file__).parent / "js" / "fal_paths.mjs"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def steps(base_url: str, node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Each step the script printed, by name (uploads: one per size)."""
    clip = tmp_path_factory.mktemp("js") / "clip.mp4"
    found = sample("mine.mp4")
    assert found is not None
    clip.write_bytes(found[0])
    script = NPM_DIR / SCRIPT.name  # next to node_modules, where node resolves "@fal-ai/client"
    shutil.copyfile(SCRIPT, script)
    done = subprocess.run(
        ["node", str(script), base_url, str(clip)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    by_step: dict[str, list[dict]] = {}
    for line in done.stdout.splitlines():
        event = json.loads(line)
        by_step.setdefault(event.pop("step"), []).append(event)
    return by_step


@pytest.mark.slow
@pytest.mark.fact(
    "fal: @fal-ai/client subscribe returns data and requestId",
    source="fal-pixelcut-video-background-removal.txt#JavaScript",
)
def test_subscribe(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["subscribe"]
    assert done["requestId"] and done["video"]["content_type"] == "video/webm"
    assert done["updates"][0] == "IN_QUEUE" and done["updates"][-1] == "COMPLETED"


@pytest.mark.slow
def test_queue_status_stream_and_result(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["queue"]
    assert done["first"] == "IN_QUEUE" and done["streamed"][-1] == "COMPLETED" and done["done"] == "COMPLETED"
    assert done["video"]["content_type"] == "video/mp4", "background green defaults to mp4_h264"


@pytest.mark.slow
@pytest.mark.fact("fal: a cancelled request's error type is client_cancelled", source="request-errors#client_cancelled")
def test_cancel(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["cancel"]
    assert done["status"] == "COMPLETED" and done["error_type"] == "client_cancelled"
    assert done["result"] == {
        "status": 499,
        "body": {"detail": "Request was cancelled", "error_type": "client_cancelled"},
    }


@pytest.mark.slow
def test_run(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["run"]
    assert done["requestId"] and done["video"]["content_type"] == "image/gif"


@pytest.mark.slow
def test_storage_uploads_1kb_20mb_and_101mb_multipart(steps: dict[str, list[dict]], base_url: str) -> None:
    uploads = {u["size"]: u for u in steps["upload"]}
    assert set(uploads) == {1024, 20 * MB, 101 * MB}
    for upload in uploads.values():
        assert upload["url"].startswith(f"{base_url}/fal/cdn/files/")
        assert upload["back"] == {
            "status": 200,
            "type": "application/octet-stream",
            "size": upload["size"],
            "sha": upload["sha"],
        }


@pytest.mark.slow
def test_a_blob_in_the_input_is_uploaded_then_used(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["blob"]
    assert done["video"]["file_name"].endswith("_result.webm")
    assert done["back"]["status"] == 200 and done["back"]["size"] == done["video"]["file_size"]


@pytest.mark.slow
@pytest.mark.fact("fal: a 422 is the JS client's ValidationError", source="errors#Error Object Structure")
def test_validation_error(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["invalid"]
    assert done["name"] == "ValidationError" and done["status"] == 422
    assert done["body"]["detail"][0]["loc"] == ["body", "background_color"]


@pytest.mark.slow
@pytest.mark.fact(
    "fal: startTimeout passed in the queue is the client's user timeout (504)",
    source="common-parameters#X-Fal-Request-Timeout (start_timeout)",
)
def test_start_timeout(steps: dict[str, list[dict]]) -> None:
    (done,) = steps["timeout"]
    assert done["status"] == 504 and done["isUserTimeout"] is True
    assert done["body"] == {"detail": "Request timed out", "error_type": "request_timeout"}
