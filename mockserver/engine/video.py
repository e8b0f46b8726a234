"""Streaming video cut-out: decode -> segment -> composite -> encode, a few frames in memory.

Segmentation and compositing run in two worker threads, pipelined with the codecs on the calling
thread (OpenCV and FFmpeg release the GIL). At most ``window`` frames are in flight, so memory does
not grow with the clip's length. The default mode segments keyframes with the auto engine and the
frames between them in the subject's neighbourhood only (``VIDEO_MODES``, engine/keyframes.py). No
temporal filter: research/segmentation.md §5 measured that per-frame alpha from the deterministic
classic engine flickers no more than the ground truth, and smoothing only cost time.

Inputs are taken as phones make them:

- **Rotation**: the display matrix of the first frame (a portrait phone video is a landscape raster
  with a 90-degree matrix) is applied to every frame, so the output is upright and carries no matrix.
- **Timestamps**: each frame keeps its presentation time and duration (in the input stream's time
  base, counted from the first frame), so variable frame rate and the total duration survive.
- **Audio**: decoded and re-encoded beside the video in the codec the output format carries (the
  table in `codecs`), interleaved as it is decoded; none for GIF, none when the input has none.
- **Duration**: the limit is enforced on decoded time, not on what the container says: the first
  frame (video or audio) that starts ``max_seconds`` or more after the first video frame stops the
  work with DurationTooLong, so a file that hides or understates its length is never processed whole.
- **10-bit** and other pixel formats are converted to 8-bit RGB by swscale when decoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from av.stream import Stream

from mockserver.engine.classic import COLLAPSED_AREA
from mockserver.engine.codecs import ALPHA_FORMATS, FORMATS, AudioTrack, Orientation, VideoFormat, VideoWriter
from mockserver.engine.compose import Background, composite
from mockserver.engine.errors import DurationTooLong, InvalidOption, MalformedVideo, NoForeground
from mockserver.engine.keyframes import KeyframeSegmenter, NeuralSegmenter
from mockserver.engine.segment import ClassicSegmenter, Segmenter, get_segmenter

VIDEO_SEGMENTER = ClassicSegmenter(proc_long_side=320)  # §5: same quality as 512 on video, faster
DEFAULT_FPS = Fraction(30)
# How a clip is segmented: "keyframe" runs the auto engine on keyframes and classic in the subject's
# neighbourhood in between (engine/keyframes.py); "classic" runs classic on every whole frame;
# "neural" runs u2netp on every frame (~250 ms a frame). keyframe is the default: classic's quality
# and a little less than its cost on plain backdrops, auto's quality where classic on the whole
# frame fails (spotlit, vignetted), at a bounded neural cost (a u2netp keyframe at most every
# `every_neural` frames when even the window fails).
VIDEO_MODES = ("keyframe", "classic", "neural")
DEFAULT_MODE = "keyframe"


def video_segmenter(mode: str = DEFAULT_MODE) -> Segmenter:
    """A segmenter for one clip (a keyframe segmenter keeps state between frames: never share it)."""
    if mode == "keyframe":
        return KeyframeSegmenter(proc_long_side=VIDEO_SEGMENTER.proc_long_side)
    if mode == "classic":
        return VIDEO_SEGMENTER
    if mode == "neural":
        return NeuralSegmenter(proc_long_side=VIDEO_SEGMENTER.proc_long_side)
    raise ValueError(f"unknown video mode {mode!r}: use {', '.join(VIDEO_MODES)}")


def video_engine(name: str) -> dict[str, object]:
    """process_video's arguments for an engine name of the settings / CLI: auto is the default mode,
    classic and u2netp their per-frame modes, and any other engine (``onnx:<path>``) runs per frame."""
    if name in ("", "auto"):
        return {}
    if name == "classic":
        return {"mode": "classic"}
    if name == "u2netp":
        return {"mode": "neural"}
    return {"engine": get_segmenter(name)}


@dataclass(frozen=True)
class VideoStats:
    frames: int
    width: int
    height: int
    fps: Fraction
    format: str
    content_type: str
    bytes: int
    seconds: float = 0.0  # decoded: from the first frame's start to the last frame's end
    audio: bool = False  # the output has an audio stream


def choose_format(
    background: Background,
    requested: str | None,
    *,
    default_opaque: str = "mp4_h264",
    alpha_formats: frozenset[str] = ALPHA_FORMATS,
) -> VideoFormat:
    """The output format: the requested one, else webm_vp9 when transparent, else `default_opaque`.

    A transparent background in a format without alpha is refused (each provider passes the set of
    formats its docs allow for transparency; Pixelcut names three, the engine can do four).
    """
    name = requested or ("webm_vp9" if background.transparent else default_opaque)
    if name not in FORMATS:
        raise InvalidOption(f"unknown output_format {name!r}; one of {', '.join(FORMATS)}", "output_format")
    if background.transparent and name not in alpha_formats:
        allowed = ", ".join(sorted(alpha_formats))
        raise InvalidOption(f"a transparent background needs an alpha format ({allowed}), not {name}", "output_format")
    return FORMATS[name]


class Timed(NamedTuple):
    """A decoded, upright frame and its time: pts and duration in the input stream's time base,
    pts counted from the first frame."""

    rgb: np.ndarray
    pts: int
    duration: int


@dataclass(frozen=True)
class Source:
    """What the input is, read from its first video frame (the display matrix lives on frames)."""

    path: str
    width: int  # as displayed (after the orientation)
    height: int
    fps: Fraction
    time_base: Fraction
    origin: int  # pts of the first video frame
    orientation: Orientation
    total: int | None
    audio: AudioTrack | None
    end: int | None = None  # where the container says the video ends (pts), when it says

    @classmethod
    def open(cls, path: str | Path) -> Source:
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                first = next(container.decode(stream))
                fps = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
                time_base = Fraction(stream.time_base or first.time_base or 1 / fps)
                audio = None
                if container.streams.audio:
                    context = container.streams.audio[0].codec_context
                    if context.sample_rate and context.channels:
                        audio = AudioTrack(context.sample_rate, context.channels)
                orientation = Orientation.of(first)
                width, height = orientation.size(first.width, first.height)
                origin = first.pts if first.pts is not None else 0
                return cls(
                    str(path),
                    width,
                    height,
                    fps,
                    time_base,
                    origin,
                    orientation,
                    stream.frames or None,
                    audio,
                    _stated_end(container, stream, time_base),
                )
        except (av.FFmpegError, IndexError, StopIteration) as exc:
            raise MalformedVideo(f"the video could not be decoded: {exc}") from None

    def seconds(self, ticks: int) -> float:
        return float(ticks * self.time_base)

    def frames(
        self,
        *,
        max_seconds: float | None = None,
        on_audio: Callable[[av.AudioFrame, float], None] | None = None,
    ) -> Iterator[Timed]:
        """Upright frames with their times; audio frames go to `on_audio` as they are demuxed.

        A frame's duration is the gap to the next frame (the last one keeps its own, else 1/fps).
        Raises DurationTooLong as soon as a frame starts `max_seconds` or more after the first.
        """
        tb, default = self.time_base, max(1, round(1 / (self.fps * self.time_base)))
        limit = None if max_seconds is None else Fraction(max_seconds)
        origin_seconds = self.origin * tb
        try:
            container = av.open(self.path)
        except av.FFmpegError as exc:
            raise MalformedVideo(f"the video could not be decoded: {exc}") from None
        try:
            video = container.streams.video[0]
            audio = container.streams.audio[0] if on_audio is not None and container.streams.audio else None
            streams: list[av.VideoStream | av.AudioStream] = [video] if audio is None else [video, audio]
            pending: Timed | None = None
            last, heard = -1, Fraction(0)  # heard: where the next audio frame starts (s)
            for packet in container.demux(*streams):
                if packet.stream.type == "audio":
                    assert audio is not None
                    for sound in _decode_audio(audio, packet):
                        if sound.pts is not None and sound.time_base:
                            heard = sound.pts * sound.time_base - origin_seconds
                        if limit is not None and heard >= limit:
                            raise self._too_long(max_seconds)
                        assert on_audio is not None
                        on_audio(sound, float(heard))
                        heard += Fraction(sound.samples, sound.sample_rate or 1)
                    continue
                for frame in video.decode(packet):
                    pts = None if frame.pts is None else frame.pts - self.origin
                    if pts is None or pts <= last:  # a missing or repeated timestamp: right after the last
                        pts = 0 if pending is None else last + pending.duration
                    if limit is not None and pts * tb >= limit:
                        raise self._too_long(max_seconds)
                    if pending is not None:
                        yield pending._replace(duration=pts - pending.pts)
                    rgb = frame.to_ndarray(format="rgb24")
                    if not self.orientation.identity:
                        rgb = self.orientation.apply(rgb)
                    pending, last = Timed(rgb, pts, frame.duration or default), pts
            if pending is not None:
                yield pending._replace(duration=self._last_duration(pending, default))
        except av.FFmpegError as exc:
            raise MalformedVideo(f"the video is corrupt: {exc}") from None
        finally:
            container.close()

    def _last_duration(self, last: Timed, default: int) -> int:
        """The last frame lasts until the container's stated end, when that is plausible.

        A decoder gives a frame its packet's duration, which in MP4 is a dts delta (wrong for the
        last frame once B-frames reorder a VFR clip); the stated end is what the input's own duration
        is measured by. A stated end far past the last frame (a lying header) is not believed.
        """
        if self.end is not None:
            rest = self.end - self.origin - last.pts
            if 0 < rest <= 4 * max(last.duration, default):
                return rest
        return last.duration

    @staticmethod
    def _too_long(max_seconds: float | None) -> DurationTooLong:
        return DurationTooLong(f"the video is longer than {max_seconds:g} s (decoded time)")


def _stated_end(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, time_base: Fraction
) -> int | None:
    """End of the video stream (in its pts) by the stream's or the container's duration, if any."""
    if stream.duration:
        return (stream.start_time or 0) + stream.duration
    if container.duration:
        start = container.start_time or 0
        return round(Fraction(start + container.duration, av.time_base) / time_base)
    return None


def _decode_audio(stream: av.AudioStream, packet: av.Packet[Stream]) -> list[av.AudioFrame]:
    """Audio frames of a packet; a broken audio packet is skipped, not fatal (the video matters)."""
    try:
        return stream.decode(packet)
    except av.InvalidDataError:
        return []


def cutout_frames(
    frames: Iterable[np.ndarray],
    background: Background,
    engine: Segmenter = VIDEO_SEGMENTER,
    *,
    window: int = 4,
) -> Iterator[np.ndarray]:
    """RGBA cut-out of each frame, in order, overlapping with the caller's codec work.

    Two worker threads: one segments the frames in order (an engine may keep state between frames),
    the other composites each frame once its alpha is there (the foreground-colour estimate costs as
    much as a frame of the keyframe mode), so the calling thread only decodes and encodes.
    """
    pending: deque[Future[np.ndarray]] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment") as segmenting,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="composite") as compositing,
    ):

        def cut(rgb: np.ndarray, alpha: Future[np.ndarray]) -> np.ndarray:
            return composite(rgb, alpha.result(), background)

        for rgb in frames:
            alpha = segmenting.submit(engine.segment, rgb)
            pending.append(compositing.submit(cut, rgb, alpha))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class SubjectWatch:
    """A segmenter that notes whether any frame had a subject: a video whose every mask collapsed is
    a failure (NoForeground), like an image's, not an empty cut-out reported as a success."""

    def __init__(self, engine: Segmenter) -> None:
        self.engine, self.name, self.found = engine, engine.name, False

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        alpha = self.engine.segment(rgb)
        self.found = self.found or float((alpha > 0.5).mean()) >= COLLAPSED_AREA
        return alpha


def process_video(
    src: str | Path,
    dst: str | Path,
    fmt: VideoFormat,
    background: Background,
    *,
    engine: Segmenter | None = None,
    mode: str = DEFAULT_MODE,
    max_frames: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    segment: bool = True,
    audio: bool = True,
) -> VideoStats:
    """Cut out every frame of `src` into `dst`. ``segment=False`` is the passthrough reference.

    `engine` runs on every frame when given; otherwise `mode` (VIDEO_MODES) says how the clip is
    segmented.
    `max_seconds` refuses (DurationTooLong) an input whose decoded time reaches it, whatever its
    container says; `audio=False` leaves the input's audio out.
    """
    source = Source.open(src)
    writer = VideoWriter(
        dst,
        fmt,
        source.width,
        source.height,
        source.fps,
        time_base=source.time_base,
        audio=source.audio if audio else None,
    )
    times: deque[tuple[int, int]] = deque()
    processed = 0
    with writer:
        on_audio = writer.write_audio if writer.has_audio else None
        timed: Iterator[Timed] = source.frames(max_seconds=max_seconds, on_audio=on_audio)
        if max_frames is not None:
            timed = (f for _, f in zip(range(max_frames), timed, strict=False))

        def pixels() -> Iterator[np.ndarray]:
            for frame in timed:
                times.append((frame.pts, frame.duration))
                yield frame.rgb

        watch = None
        if segment:
            watch = SubjectWatch(engine if engine is not None else video_segmenter(mode))
            rgba_frames: Iterable[np.ndarray] = cutout_frames(pixels(), background, watch)
        else:
            opaque = np.ones((source.height, source.width), np.float32)
            rgba_frames = (composite(f, opaque, background) for f in pixels())
        end = 0
        for rgba in rgba_frames:
            pts, duration = times.popleft()
            writer.write(rgba, pts, duration)
            end = pts + duration
            processed += 1
            if progress:
                progress(processed, source.total)
        if processed == 0:
            raise MalformedVideo("the video has no decodable frames")
        if watch is not None and not watch.found:
            raise NoForeground("The foreground subject of the video could not be detected in any frame")
    return VideoStats(
        processed,
        writer.out_width,
        writer.out_height,
        source.fps,
        fmt.name,
        fmt.content_type,
        Path(dst).stat().st_size,
        source.seconds(end),
        writer.has_audio,
    )
