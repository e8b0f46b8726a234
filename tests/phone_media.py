"""Videos as phones make them, written with PyAV directly (not with the writer under test).

A scene is a plain, slightly graded backdrop with one disc of known centre and radius, which the
classic engine cuts out cleanly, so a test can say where the subject must be in the output. Builders
cover what the engine must take: a display matrix (portrait stored landscape), irregular timestamps,
an audio track (a sine), odd sizes, 10-bit pixels, and a container that hides its duration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

SUBJECT = (170, 40, 60)  # the disc's colour
BACKDROP = (205, 212, 226)


@dataclass(frozen=True)
class Scene:
    """width x height as displayed; the disc at (cx, cy) with radius r, drifting `drift` px a frame."""

    width: int
    height: int
    cx: int
    cy: int
    r: int
    drift: int = 0

    def frame(self, i: int) -> np.ndarray:
        h, w = self.height, self.width
        yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        rgb = np.empty((h, w, 3), np.float32)
        rgb[...] = np.array(BACKDROP, np.float32) * (0.97 + 0.06 * yy)
        cv2.circle(rgb, (self.cx + self.drift * i, self.cy), self.r, SUBJECT, -1, lineType=cv2.LINE_AA)
        noise = np.random.default_rng(i).normal(0, 1.5, rgb.shape)
        return np.clip(np.rint(rgb + noise), 0, 255).astype(np.uint8)

    def inside(self, i: int = 0) -> tuple[int, int]:
        """(row, col) well inside the disc in frame i."""
        return self.cy, self.cx + self.drift * i

    def outside(self) -> tuple[int, int]:
        """(row, col) of backdrop far from the disc, in the opposite half of the frame."""
        row = self.height - 1 - self.height // 8 if self.cy < self.height // 2 else self.height // 8
        col = self.width - 1 - self.width // 8 if self.cx < self.width // 2 else self.width // 8
        return row, col


def regular(n: int, fps: int) -> list[Fraction]:
    return [Fraction(i, fps) for i in range(n)]


def irregular(n: int, seed: int = 7) -> list[Fraction]:
    """Frame times with gaps of 20..120 ms, as a phone's camera under changing light gives."""
    gaps = np.random.default_rng(seed).integers(20, 121, n - 1)
    return [Fraction(0)] + [Fraction(int(t), 1000) for t in np.cumsum(gaps)]


def sine(seconds: float, rate: int = 44100, channels: int = 2) -> np.ndarray:
    """float32 (channels, samples): 440 Hz at -10 dBFS."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    times: Sequence[Fraction],
    *,
    container: str | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    time_base: Fraction = Fraction(1, 1000),
    rotation: int | None = None,
    hflip: bool = False,
    audio_seconds: float | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode `frames` (RGB, the raster as stored) at `times` (seconds); AAC/Opus audio on request.

    `rotation` is the display matrix's counter-clockwise angle (a phone's portrait video: -90, the
    ``rotate=90`` of old tools: turn the raster 90 degrees clockwise to show it); `hflip` mirrors
    after the rotation.
    """
    frames = list(frames)
    h, w = frames[0].shape[:2]
    out = av.open(str(path), "w", format=container, options=container_options or {})
    fps = Fraction(len(times) - 1, 1) / times[-1] if len(times) > 1 and times[-1] else Fraction(25)
    video = out.add_stream(codec, rate=Fraction(round(fps * 1000), 1000))
    video.width, video.height, video.pix_fmt = w, h, pix_fmt
    video.codec_context.time_base = time_base
    video.time_base = time_base
    default = {"libx265": {"x265-params": "log-level=error"}, "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"}}
    video.options = {**default.get(codec, {}), **(options or {})}
    if rotation is not None or hflip:
        video.set_display_rotation(rotation or 0, hflip=hflip)
    audio = samples = None
    if audio_seconds is not None:
        name = "libopus" if (container or path.suffix.lstrip(".")) == "webm" else "aac"
        rate = 48000 if name == "libopus" else 44100
        audio = out.add_stream(name, rate=rate)
        audio.codec_context.layout = "stereo"
        samples = sine(audio_seconds, rate)
    sent = 0

    def feed_audio(until: Fraction | None) -> None:
        nonlocal sent
        if audio is None or samples is None:
            return
        end = samples.shape[1] if until is None else min(samples.shape[1], round(until * audio.codec_context.rate))
        while sent < end:
            chunk = np.ascontiguousarray(samples[:, sent : min(end, sent + 1024)])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = audio.codec_context.rate, sent
            frame.time_base = Fraction(1, audio.codec_context.rate)
            sent += chunk.shape[1]
            out.mux(audio.encode(frame))

    for rgb, t in zip(frames, times, strict=True):
        feed_audio(t)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = round(t / time_base), time_base
        out.mux(video.encode(frame))
    feed_audio(None)
    if audio is not None:
        out.mux(audio.encode(None))
    out.mux(video.encode(None))
    out.close()
    return path


@dataclass(frozen=True)
class Decoded:
    """What a file holds, read back with PyAV."""

    times: list[float]  # each video frame's presentation time, from the first frame
    frames: list[np.ndarray]  # RGB(A) as decoded (alpha through codecs.read_rgba when asked)
    width: int
    height: int
    rotation: int  # the first frame's display rotation (0: none)
    duration: float | None  # the container's
    audio_seconds: float | None  # decoded samples / rate; None without an audio stream
    audio_codec: str | None


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times, rotation = [], [], 0
        for frame in container.decode(stream):
            if not times:
                rotation = frame.rotation or 0
            times.append(float(frame.time))
            frames.append(frame.to_ndarray(format="rgb24"))
        duration = container.duration / av.time_base if container.duration else None
        width, height = stream.codec_context.width, stream.codec_context.height
    audio_seconds = audio_codec = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            audio_codec = audio.codec_context.name
            total = rate = 0
            for sound in container.decode(audio):
                total, rate = total + sound.samples, sound.sample_rate
            audio_seconds = total / rate if rate else 0.0
    first = times[0] if times else 0.0
    return Decoded([t - first for t in times], frames, width, height, rotation, duration, audio_seconds, audio_codec)


def long_hidden_webm(path: Path, seconds: int = 90, every: int = 2) -> Path:
    """A 64x64 WebM of `seconds` (one frame every `every` s) written live: no duration anywhere."""
    scene = Scene(64, 64, 32, 32, 14)
    times = [Fraction(t) for t in range(0, seconds, every)]
    return write_video(
        path,
        (scene.frame(0) for _ in times),
        times,
        container="webm",
        codec="libvpx-vp9",
        time_base=Fraction(1, 1000),
        container_options={"live": "1"},
    )


def lying_duration(path: Path, seconds: int = 90, every: int = 2, claimed: str = "00:00:05.000000000") -> Path:
    """A Matroska of `seconds` whose Segment Duration and DURATION tag both claim 5 s."""
    scene = Scene(64, 64, 32, 32, 14)
    times = [Fraction(t) for t in range(0, seconds, every)]
    write_video(path, (scene.frame(0) for _ in times), times, container="matroska", codec="libx264")
    data = bytearray(path.read_bytes())
    # Segment Info Duration: ID 0x4489, size 0x88, an 8-byte float of milliseconds.
    at = data.find(b"\x44\x89\x88")
    assert at > 0, "no Duration element"
    data[at + 3 : at + 11] = np.array([5000.0], ">f8").tobytes()
    data = bytearray(re.sub(rb"\d\d:\d\d:\d\d\.\d{9}", claimed.encode(), bytes(data)))  # the DURATION tags
    path.write_bytes(bytes(data))
    return path


PORTRAIT = Scene(96, 160, 48, 45, 26)  # as displayed; stored as a 160x96 raster with a -90 matrix
LANDSCAPE = Scene(160, 96, 50, 40, 24, drift=2)
ODD = Scene(161, 97, 50, 40, 24, drift=2)


def phone_clips(d: Path) -> dict[str, Path]:
    """Each kind of phone input the engine and the providers are tested with, written under `d`."""
    times = irregular(24)
    return {
        "portrait": write_video(
            d / "portrait.mp4",
            (np.ascontiguousarray(np.rot90(PORTRAIT.frame(i), 1)) for i in range(20)),
            regular(20, 20),
            rotation=-90,
        ),
        "vfr": write_video(d / "vfr.mp4", (LANDSCAPE.frame(i) for i in range(len(times))), times),
        "audio": write_video(
            d / "audio.mp4", (LANDSCAPE.frame(i) for i in range(30)), regular(30, 20), audio_seconds=1.5
        ),
        "odd": write_video(d / "odd.webm", (ODD.frame(i) for i in range(12)), regular(12, 12), codec="libvpx-vp9"),
        "hevc10": write_video(
            d / "hevc10.mp4",
            (LANDSCAPE.frame(i) for i in range(8)),
            regular(8, 8),
            codec="libx265",
            pix_fmt="yuv420p10le",
        ),
    }
