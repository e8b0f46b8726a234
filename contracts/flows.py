"""Each provider's job contract, as data: how to authenticate, submit, poll, and read the outcome.

Facts from the providers' docs (``openapi/*.yaml`` hold the same): the status words in the order a
job walks them, which are terminal, where the polling URL and the output URL are, and the error
body's shape. The server checks and the client scenarios both read these; nothing here knows how
the mock works inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


def _dig(body: Any, *path: str | int) -> Any:
    for part in path:
        try:
            body = body[part]
        except (KeyError, IndexError, TypeError):
            return None
    return body


@dataclass(frozen=True)
class Flow:
    provider: str
    auth: Callable[[str], dict[str, str]]  # key -> headers
    submit_path: str  # relative to the provider's base URL
    submit_body: Json
    job_id: Callable[[Json], str | None]
    poll_url: Callable[[Json, str], str | None]  # (submit body, base URL) -> absolute status URL
    status: Callable[[Json], str | None]
    order: tuple[str, ...]  # status words in the order a job walks them
    succeeded: str
    failed: frozenset[str]
    output_url: Callable[[Json], str | None]  # from the result body (or the status body)
    media_types: frozenset[str]  # what the output may be
    error_keys: frozenset[str]  # keys every error body carries
    submit_operation: str = ""  # operationIds in the provider's spec (faults target them)
    poll_operations: tuple[str, ...] = ()
    credits_status: int = 402  # how it refuses a key out of credits
    outcomes: tuple[str, ...] = ("succeeded", "failed")  # how its jobs can end (the mock's job model)
    submit_status: int = 200
    extra_headers: dict[str, str] = field(default_factory=dict)
    result_url: Callable[[Json], str | None] | None = None  # where the result is, if not in the status

    def headers(self, key: str) -> dict[str, str]:
        return {**self.auth(key), **self.extra_headers}

    def rank(self, word: str | None) -> int:
        """Position of a status word; failures rank with success (both end the job)."""
        if word in self.failed:
            return self.order.index(self.succeeded)
        return self.order.index(word) if word in self.order else -1

    def terminal(self, word: str | None) -> bool:
        return word == self.succeeded or word in self.failed


def _absolute(base: str, url: str | None) -> str | None:
    if not url:
        return None
    return base.rstrip("/") + url if url.startswith("/") else url


SAMPLE_VIDEO = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"
SAMPLE_IMAGE = "https://example.com/product.jpg"

PIXELCUT = Flow(
    provider="pixelcut",
    auth=lambda key: {"X-API-KEY": key},
    submit_path="/v1/video/remove-background",
    submit_body={"video_url": SAMPLE_VIDEO},
    submit_status=202,
    job_id=lambda body: body.get("job_id"),
    poll_url=lambda body, base: _absolute(base, f"/v1/video/remove-background/job/{body.get('job_id')}"),
    status=lambda body: body.get("status"),
    order=("pending", "running", "completed"),
    succeeded="completed",
    failed=frozenset({"failed"}),
    output_url=lambda body: body.get("result_url"),
    media_types=frozenset({"video/webm", "video/mp4", "video/quicktime"}),
    error_keys=frozenset({"error", "error_code"}),
    submit_operation="video-remove-background",
    poll_operations=("video-remove-background-job-status",),
    credits_status=403,
)


FAL = Flow(
    provider="fal",
    auth=lambda key: {"Authorization": f"Key {key}"},
    submit_path="/queue/pixelcut/video-background-removal",
    submit_body={"video_url": SAMPLE_VIDEO},
    job_id=lambda body: body.get("request_id"),
    poll_url=lambda body, base: body.get("status_url"),
    status=lambda body: body.get("status"),
    order=("IN_QUEUE", "IN_PROGRESS", "COMPLETED"),
    succeeded="COMPLETED",
    failed=frozenset(),
    result_url=lambda body: body.get("response_url"),
    output_url=lambda body: _dig(body, "video", "url"),
    media_types=frozenset({"video/webm", "video/mp4", "video/quicktime", "image/gif"}),
    error_keys=frozenset({"detail"}),
    submit_operation="fal-queue-submit",
    poll_operations=("fal-queue-status", "fal-queue-result"),
    credits_status=403,
    outcomes=("succeeded", "failed", "errored"),  # both show COMPLETED; the result carries the error
)

PIXAZO = Flow(
    provider="pixazo",
    auth=lambda key: {"Ocp-Apim-Subscription-Key": key},
    submit_path="/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request",
    submit_body={"video_url": SAMPLE_VIDEO},
    submit_status=202,
    job_id=lambda body: body.get("request_id"),
    poll_url=lambda body, base: body.get("polling_url"),
    status=lambda body: body.get("status"),
    order=("QUEUED", "PROCESSING", "COMPLETED"),
    succeeded="COMPLETED",
    failed=frozenset({"FAILED", "ERROR"}),
    output_url=lambda body: _dig(body, "output", "media_url", 0),
    media_types=frozenset({"video/webm", "video/mp4", "video/quicktime", "image/gif"}),
    error_keys=frozenset({"error", "message"}),
    submit_operation="pixazo-pixelcut-request",
    poll_operations=("pixazo-status-get", "pixazo-status-post"),
    outcomes=("succeeded", "failed", "errored"),
)

PIXELAPI = Flow(
    provider="pixelapi",
    auth=lambda key: {"Authorization": f"Bearer {key}"},
    extra_headers={"User-Agent": "cutout-mock-verify/1.0"},
    submit_path="/v1/image/remove-background",
    submit_body={"image_url": SAMPLE_IMAGE},
    job_id=lambda body: body.get("generation_id"),
    poll_url=lambda body, base: _absolute(base, f"/v1/image/{body.get('generation_id')}"),
    status=lambda body: body.get("status"),
    order=("pending", "queued", "processing", "completed"),
    succeeded="completed",
    failed=frozenset({"failed", "blocked"}),
    output_url=lambda body: body.get("output_url"),
    media_types=frozenset({"image/png"}),
    error_keys=frozenset({"detail"}),
    submit_operation="pixelapi-remove-background",
    poll_operations=("pixelapi-get-generation",),
    outcomes=("succeeded", "failed", "blocked"),
)

FLOWS = {flow.provider: flow for flow in (PIXELCUT, FAL, PIXAZO, PIXELAPI)}
