"""Videos as phones make them, through HTTP, for each provider that sells the video cut-out.

One test per kind of input (rotation, variable frame rate, audio, odd size, a duration the container
hides, 10-bit), each run against Pixelcut, fal and Pixazo with the provider's own submit, poll and
download. Each provider asks for a different output format, so the three cover AAC in MP4 (padded
4:2:0), Opus in WebM and PCM beside ProRes: the media is decoded and its pixels, timestamps and
streams checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mockserver.engine.codecs import FORMATS, read_rgba
from tests.phone_media import (
    LANDSCAPE,
    ODD,
    PORTRAIT,
    SUBJECT,
    decode,
    long_hidden_webm,
    phone_clips,
    regular,
    write_video,
)
from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio

TICK = 0.001  # MP4, WebM and MOV here all count at least milliseconds
DECODED_AUDIO = {"libopus": "opus", "aac": "aac", "pcm_s16le": "pcm_s16le"}


@dataclass(frozen=True)
class Provider:
    name: str
    key: str
    headers: dict[str, str]
    fmt: str  # the output format this test asks for
    body: dict[str, Any] = field(default_factory=dict)


PROVIDERS = [
    Provider(
        "pixelcut",
        "sk_test_one",
        {"X-API-KEY": "sk_test_one"},
        "mp4_h264",
        {"background_color": "#00FF00", "output_format": "mp4_h264"},
    ),
    Provider("fal", "fal-test-key", {"Authorization": "Key fal-test-key"}, "webm_vp9"),  # fal's default
    Provider(
        "pixazo",
        "pz-key",
        {"Ocp-Apim-Subscription-Key": "pz-key"},
        "mov_proresks",
        {"background": "transparent", "output_format": "mov_proresks"},
    ),
]


@pytest.fixture(params=PROVIDERS, ids=[p.name for p in PROVIDERS])
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("phone")
    paths = {
        **phone_clips(d),
        "long": long_hidden_webm(d / "long.webm"),
        "empty": write_video(
            d / "empty.mp4", (np.full((96, 160, 3), 128, np.uint8) for _ in range(10)), regular(10, 10)
        ),
    }
    return {kind: path.read_bytes() for kind, path in paths.items()}


def _content_type(kind: str) -> str:
    return "video/webm" if kind in ("odd", "long") else "video/mp4"


@dataclass
class Outcome:
    ok: bool
    status: dict[str, Any]  # the provider's last status body
    media: bytes | None = None
    result: httpx.Response | None = None  # fal's result endpoint


async def _run(client: httpx.AsyncClient, provider: Provider, video: bytes, content_type: str) -> Outcome:
    """Submit, let the mock clock pass, poll once, download: each provider in its own words."""
    body = {"video_url": data_url(video, content_type), **provider.body}
    if provider.name == "pixelcut":
        r = await client.post("/pixelcut/v1/video/remove-background", json=body, headers=provider.headers)
        assert r.status_code == 202, r.text
        await advance(client, 5)
        status = (await client.get(f"/pixelcut{r.headers['location']}", headers=provider.headers)).json()
        if status["status"] != "completed":
            return Outcome(False, status)
        return Outcome(True, status, (await client.get(status["result_url"])).content)
    if provider.name == "fal":
        r = await client.post("/fal/queue/pixelcut/video-background-removal", json=body, headers=provider.headers)
        assert r.status_code == 200, r.text
        job = r.json()
        await advance(client, 5)
        status = (await client.get(job["status_url"], headers=provider.headers)).json()
        result = await client.get(job["response_url"], headers=provider.headers)
        if status.get("error") or result.status_code != 200:
            return Outcome(False, status, result=result)
        return Outcome(True, status, (await client.get(result.json()["video"]["url"])).content, result)
    r = await client.post(
        "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request",
        json=body,
        headers=provider.headers,
    )
    assert r.status_code == 202, r.text
    await advance(client, 5)
    status = (await client.get(r.json()["polling_url"], headers=provider.headers)).json()
    if status["status"] != "COMPLETED":
        return Outcome(False, status)
    return Outcome(True, status, (await client.get(status["output"]["media_url"][0])).content)


async def _output(
    client: httpx.AsyncClient, provider: Provider, video: bytes, content_type: str, tmp_path: Path
) -> Path:
    outcome = await _run(client, provider, video, content_type)
    assert outcome.ok, outcome.status
    assert outcome.media is not None
    path = tmp_path / f"out.{FORMATS[provider.fmt].extension}"
    path.write_bytes(outcome.media)
    return path


def _subject(frame: np.ndarray, fmt: str) -> np.ndarray:
    """Where the output shows the subject: its alpha, or (opaque formats) not the green backdrop."""
    if FORMATS[fmt].alpha:
        return frame[..., 3] >= 128
    return np.abs(frame[..., :3].astype(int) - (0, 255, 0)).max(axis=2) > 80


async def test_portrait_phone_video_comes_back_portrait(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes], tmp_path: Path
) -> None:
    out = await _output(client, provider, phone["portrait"], "video/mp4", tmp_path)
    decoded = decode(out)
    assert (decoded.width, decoded.height, decoded.rotation) == (96, 160, 0), "upright, no matrix left"
    frames = list(read_rgba(out))
    assert len(frames) == 20
    for i, frame in enumerate(frames):
        subject = _subject(frame, provider.fmt)
        assert subject[PORTRAIT.inside(i)], f"frame {i}: no subject where the portrait has it"
        assert not subject[PORTRAIT.outside()], f"frame {i}: subject where the portrait has backdrop"


async def test_variable_frame_rate_keeps_each_timestamp(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes], tmp_path: Path
) -> None:
    src = tmp_path / "in.mp4"
    src.write_bytes(phone["vfr"])
    before = decode(src)
    out = decode(await _output(client, provider, phone["vfr"], "video/mp4", tmp_path))
    assert len(out.times) == len(before.times) == 24
    assert np.abs(np.array(out.times) - before.times).max() <= TICK / 2 + 1e-6
    assert before.duration is not None and out.duration is not None
    assert abs(out.duration - before.duration) <= TICK + 1e-6
    assert out.audio_codec is None, "no audio in, no audio out"


async def test_audio_is_kept(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes], tmp_path: Path
) -> None:
    src = tmp_path / "in.mp4"
    src.write_bytes(phone["audio"])
    before = decode(src)
    out = decode(await _output(client, provider, phone["audio"], "video/mp4", tmp_path))
    audio = FORMATS[provider.fmt].audio
    assert audio is not None and out.audio_codec == DECODED_AUDIO[audio]
    assert before.audio_seconds is not None and out.audio_seconds is not None
    assert abs(out.audio_seconds - before.audio_seconds) <= 0.05
    assert len(out.times) == 30 and np.abs(np.array(out.times) - before.times).max() <= TICK / 2 + 1e-6


async def test_odd_size_is_kept_where_the_codec_allows(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes], tmp_path: Path
) -> None:
    out = await _output(client, provider, phone["odd"], "video/webm", tmp_path)
    fmt = FORMATS[provider.fmt]
    expected = (162, 98) if fmt.needs_even_size else (161, 97)  # x264/x265 4:2:0 pad one column and row
    decoded = decode(out)
    assert (decoded.width, decoded.height) == expected
    for i, frame in enumerate(read_rgba(out)):
        assert frame.shape[:2] == expected[::-1]
        subject = _subject(frame[:97, :161], provider.fmt)
        assert subject[ODD.inside(i)] and not subject[ODD.outside()]
        if fmt.alpha:
            assert frame[-1, :, 3].max() <= 5 and frame[:, -1, 3].max() <= 5, "alpha lost at the odd edge"


async def _fund(client: httpx.AsyncClient, provider: Provider, balance: float = 10) -> str:
    """The provider key's account set to `balance`; its control-plane path, to read it back."""
    account = f"/__mock/accounts/{provider.name}/{provider.key}"
    assert (await client.put(account, json={"balance": balance})).status_code == 200
    return account


async def test_longer_than_60_s_with_a_hidden_duration_is_refused(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes]
) -> None:
    """A live WebM (no duration in the container) of 90 s: the provider's too-long failure, refunded."""
    account = await _fund(client, provider)
    outcome = await _run(client, provider, phone["long"], "video/webm")
    assert not outcome.ok
    if provider.name == "pixelcut":  # a failed job with the error object of the job-status docs
        assert outcome.status["status"] == "failed" and "result_url" not in outcome.status
        assert outcome.status["error"]["error_code"] == "invalid_parameter"
        assert "60 s" in outcome.status["error"]["message"]
    elif provider.name == "fal":  # COMPLETED with an error; the result is the 422 of a bad input
        assert outcome.status["status"] == "COMPLETED" and outcome.status["error_type"] == "duration_too_long"
        assert outcome.result is not None and outcome.result.status_code == 422
        (detail,) = outcome.result.json()["detail"]
        assert detail["loc"] == ["body", "video_url"] and detail["type"] == "duration_too_long"
        assert "60 s" in detail["msg"]
    else:
        assert outcome.status["status"] == "FAILED" and outcome.status["output"] is None
        assert "60 s" in outcome.status["error"]
    balance = (await client.get(account)).json()["balance"]
    assert balance == pytest.approx(10), "a refused input is not billed"


async def test_a_video_with_no_subject_is_a_failure_not_an_empty_cutout(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes]
) -> None:
    """No engine reports success on a collapsed mask: a flat grey clip fails as an image would, unbilled."""
    account = await _fund(client, provider)
    outcome = await _run(client, provider, phone["empty"], "video/mp4")
    assert not outcome.ok
    text = str(outcome.status) + (outcome.result.text if outcome.result is not None else "")
    assert "could not be detected" in text, text
    assert (await client.get(account)).json()["balance"] == pytest.approx(10)


async def test_ten_bit_hevc_decodes(
    client: httpx.AsyncClient, provider: Provider, phone: dict[str, bytes], tmp_path: Path
) -> None:
    out = await _output(client, provider, phone["hevc10"], "video/mp4", tmp_path)
    frames = list(read_rgba(out))
    assert len(frames) == 8
    for i, frame in enumerate(frames):
        inside = frame[LANDSCAPE.inside(i)]
        assert np.abs(inside[:3].astype(int) - SUBJECT).max() <= 16, f"frame {i}: colours off: {inside}"
        subject = _subject(frame, provider.fmt)
        assert subject[LANDSCAPE.inside(i)] and not subject[LANDSCAPE.outside()]
