"""The nine output video formats, as data, and a frame writer and reader over PyAV.

Formats are a table (container, encoder, pixel format, options, audio), so adding one is a row, not
code. Alpha travels in VP9 (WebM and Matroska, as a second stream in BlockAdditional), ProRes 4444 and
GIF (a transparent palette entry). The pitfalls of research/stack.md are handled here once: HEVC gets
the ``hvc1`` tag, x265 is kept quiet, GIF frames are built as pal8 directly, and VP9 alpha is decoded
with libvpx-vp9 (FFmpeg's native decoder drops it silently).

**Sizes.** Every format keeps the input's exact width and height except the x264/x265 ones: H.264 and
HEVC in 4:2:0 cannot code an odd dimension (chroma is subsampled 2x2 and their cropping works in
2-pixel units), so those five formats pad one replicated column/row on the right/bottom. VP9
(libvpx rounds chroma up; alpha survives odd sizes, tested at 161x97), ProRes 4444 (4:4:4) and GIF
have no such rule.

**Time.** The writer takes each frame's presentation time and duration in a time base of the
caller's (the input stream's), so variable frame rate survives: the encoder runs in that time base
(GIF: the muxer's centiseconds, each time rounded on its own so delays do not drift; two frames
within one centisecond keep the first). Encoders do not carry a frame's duration to its packet, so the
writer puts it back from a pts -> duration map. MP4/MOV end a track (its edit list) at the last
packet's pts + duration; with B-frames the last packet muxed is not the last frame shown, so its
duration is stretched to where the last frame ends (otherwise a VFR clip comes out shorter).

**Audio**, per format (the ``audio`` column), always transcoded with PyAV from decoded samples, so
timestamps are clean whatever the input's codec and priming:

- ``webm_vp9``, ``mkv_vp9``: Opus (libopus, 48 kHz). WebM carries only Vorbis or Opus; Opus is the
  better one, and the Matroska muxer signals its pre-skip (CodecDelay), so nothing shifts the video.
- ``mp4_h264``, ``mp4_h265``, ``mov_h265``, ``mkv_h264``, ``mkv_h265``: AAC-LC (FFmpeg's native
  encoder, 128 kb/s, the input's rate when AAC has it, else 48 kHz): the pairing every player expects
  with H.264/HEVC; the MP4/MOV edit list hides the encoder's priming.
- ``mov_proresks``: PCM s16le at the input's rate: ProRes masters carry uncompressed audio, and PCM
  has no priming or padding, so its length is exact.
- ``gif``: none (the format has no audio).

Mono stays mono; anything with more channels is mixed to stereo. Audio is laid out contiguously from
its first sample's time; samples before the first video frame are cut (the output starts at the first
frame), gaps inside the input's audio are closed up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
from av.sidedata.sidedata import SideData, SideDataContainer
from av.sidedata.sidedata import Type as SideDataType

_VP9 = {
    "deadline": "realtime",
    "cpu-used": "8",
    "row-mt": "1",
    "lag-in-frames": "0",
    "crf": "32",
    "b": "0",
    "auto-alt-ref": "0",
}
_X264 = {"preset": "veryfast", "crf": "20"}
_X265 = {"preset": "veryfast", "crf": "28", "x265-params": "log-level=error"}
# FFmpeg 8.1's GIF encoder crops each frame to its changed rectangle ("offsetting") and then codes the
# last row from the wrong line when the frame has transparent pixels: a subject touching the bottom
# edge comes out with a torn last row. Transparency between frames ("transdiff") is unaffected.
_GIF = {"gifflags": "-offsetting"}
AUDIO_BIT_RATE = {"aac": 128_000, "libopus": 96_000}


@dataclass(frozen=True)
class VideoFormat:
    """One output format: how to write it and how to describe it to a client."""

    name: str
    container: str
    encoder: str
    pix_fmt: str
    extension: str
    content_type: str
    alpha: bool
    options: dict[str, str] = field(default_factory=dict)
    codec_tag: str | None = None
    audio: str | None = None  # the audio encoder; None: the format carries no audio

    @property
    def needs_even_size(self) -> bool:
        """x264/x265 in 4:2:0 refuse odd sizes; libvpx's yuva420p, ProRes and GIF take any size."""
        return self.pix_fmt == "yuv420p"


FORMATS: dict[str, VideoFormat] = {
    f.name: f
    for f in [
        VideoFormat("webm_vp9", "webm", "libvpx-vp9", "yuva420p", "webm", "video/webm", True, _VP9, None, "libopus"),
        VideoFormat(
            "mkv_vp9", "matroska", "libvpx-vp9", "yuva420p", "mkv", "video/x-matroska", True, _VP9, None, "libopus"
        ),
        VideoFormat(
            "mov_proresks",
            "mov",
            "prores_ks",
            "yuva444p10le",
            "mov",
            "video/quicktime",
            True,
            {"profile": "4", "vendor": "apl0"},
            None,
            "pcm_s16le",
        ),
        VideoFormat("gif", "gif", "gif", "pal8", "gif", "image/gif", True, _GIF),
        VideoFormat("mp4_h264", "mp4", "libx264", "yuv420p", "mp4", "video/mp4", False, _X264, None, "aac"),
        VideoFormat("mp4_h265", "mp4", "libx265", "yuv420p", "mp4", "video/mp4", False, _X265, "hvc1", "aac"),
        VideoFormat("mov_h265", "mov", "libx265", "yuv420p", "mov", "video/quicktime", False, _X265, "hvc1", "aac"),
        VideoFormat("mkv_h264", "matroska", "libx264", "yuv420p", "mkv", "video/x-matroska", False, _X264, None, "aac"),
        VideoFormat("mkv_h265", "matroska", "libx265", "yuv420p", "mkv", "video/x-matroska", False, _X265, None, "aac"),
    ]
}
ALPHA_FORMATS = frozenset(name for name, f in FORMATS.items() if f.alpha)


@dataclass(frozen=True)
class AudioTrack:
    """The input's audio, as much as the writer needs to choose the output's rate and layout."""

    rate: int
    channels: int


@dataclass(frozen=True)
class Orientation:
    """How to turn a decoded frame upright: transpose, then flip rows and/or columns.

    Read from the display matrix (``AV_FRAME_DATA_DISPLAYMATRIX``; a phone's portrait video is a
    landscape raster with a 90-degree matrix). FFmpeg's matrix maps a source pixel (p, q) to
    (a*p + c*q, b*p + d*q) in y-down coordinates, with [a b _ c d _ ...] = matrix[0, 1, 3, 4];
    angles that are not a multiple of 90 degrees snap to the nearest one.
    """

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @classmethod
    def of(cls, frame: av.VideoFrame) -> Orientation:
        # PyAV's stub types side_data as a TypedDict of motion vectors; it is a SideDataContainer.
        side_data = cast(SideDataContainer, frame.side_data)
        data: SideData | None = side_data.get(SideDataType.DISPLAYMATRIX) if side_data else None
        if data is None or data.buffer_size < 36:
            return cls()
        a, b, _, c, d = np.frombuffer(bytes(data), "<i4")[:5].tolist()
        if abs(a) + abs(d) >= abs(b) + abs(c):
            return cls(False, flip_rows=d < 0, flip_cols=a < 0)
        return cls(True, flip_rows=b < 0, flip_cols=c < 0)

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_cols)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """Displayed (width, height) of a raster of this size."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        if self.transpose:
            pixels = cv2.transpose(pixels)
        if self.flip_rows or self.flip_cols:
            code = -1 if self.flip_rows and self.flip_cols else (0 if self.flip_rows else 1)
            pixels = cv2.flip(pixels, code)
        return pixels


def _gif_palette() -> np.ndarray:
    """Index 0 is fully transparent; 1..216 are a 6x6x6 colour cube. Rows are [A, R, G, B]."""
    levels = np.array([0, 51, 102, 153, 204, 255], np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    palette = np.zeros((256, 4), np.uint8)
    palette[1:217, 0] = 255
    palette[1:217, 1], palette[1:217, 2], palette[1:217, 3] = r.ravel(), g.ravel(), b.ravel()
    return palette


_GIF_PALETTE = _gif_palette()


def _gif_indices(rgba: np.ndarray) -> np.ndarray:
    q = ((rgba[..., :3].astype(np.uint16) * 5 + 127) // 255).astype(np.uint8)
    idx = 1 + q[..., 0] * 36 + q[..., 1] * 6 + q[..., 2]
    return np.where(rgba[..., 3] >= 128, idx, 0).astype(np.uint8)


def _rescale(value: int, src: Fraction, dst: Fraction) -> int:
    return value if src == dst else round(value * src / dst)


class VideoWriter:
    """Streams RGBA frames (and optionally audio) into a file of one of FORMATS. A context manager."""

    def __init__(
        self,
        path: str | Path,
        fmt: VideoFormat,
        width: int,
        height: int,
        fps: Fraction,
        options: dict[str, str] | None = None,
        *,
        time_base: Fraction | None = None,
        audio: AudioTrack | None = None,
    ) -> None:
        """`options` override the format's encoder options (e.g. a faster preset for synthetic media).

        `time_base` is the clock of the ``pts`` and ``duration`` given to `write` (default 1/fps);
        `audio` adds an audio stream when the format carries one (fed by `write_audio`).
        """
        self.fmt = fmt
        self.width, self.height = width, height
        self.out_width = width + (width % 2 if fmt.needs_even_size else 0)
        self.out_height = height + (height % 2 if fmt.needs_even_size else 0)
        self.time_base = Fraction(time_base) if time_base else 1 / Fraction(fps)
        self._tb = Fraction(1, 100) if fmt.container == "gif" else self.time_base  # the encoder's clock
        self._frame_ticks = max(1, round(1 / (Fraction(fps) * self.time_base)))  # default duration
        self._container = av.open(str(path), "w", format=fmt.container)
        stream = self._container.add_stream(fmt.encoder, rate=fps)
        assert isinstance(stream, av.VideoStream)  # every format's encoder is a video one
        self._stream = stream
        self._stream.width, self._stream.height = self.out_width, self.out_height
        self._stream.pix_fmt = fmt.pix_fmt
        self._stream.codec_context.time_base = self._tb
        self._stream.time_base = self._tb
        if fmt.options or options:
            self._stream.options = {**fmt.options, **(options or {})}
        if fmt.codec_tag:
            self._stream.codec_tag = fmt.codec_tag
        self._audio: av.audio.stream.AudioStream | None = None
        if audio is not None and fmt.audio is not None:
            self._add_audio(audio)
        self.frames = 0
        self._next_pts = 0  # in self.time_base: where a frame given without pts goes
        self._last_pts: int | None = None  # in self._tb, as encoded
        self._end = 0  # in self._tb: where the last frame ends
        self._durations: dict[int, int] = {}  # pts -> duration of frames in the encoder
        # The last video packet, muxed at close with its duration fixed.
        self._held: av.Packet[av.VideoStream] | None = None

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def _add_audio(self, audio: AudioTrack) -> None:
        name = self.fmt.audio
        assert name is not None
        codec = av.codec.Codec(name, "w")
        rates = codec.audio_rates
        rate = audio.rate if not rates or audio.rate in rates else 48000
        layout = "mono" if audio.channels == 1 else "stereo"
        stream = self._container.add_stream(name, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.codec_context.layout = layout
        sample_formats = [f.name for f in codec.audio_formats or ()]
        sample_format = "flt" if "flt" in sample_formats else sample_formats[0]
        stream.codec_context.format = sample_format
        if name in AUDIO_BIT_RATE:
            stream.codec_context.bit_rate = AUDIO_BIT_RATE[name]
        stream.codec_context.time_base = Fraction(1, rate)
        stream.codec_context.open()
        self._audio = stream
        self._audio_rate = rate
        self._resampler = av.AudioResampler(
            format=sample_format, layout=layout, rate=rate, frame_size=stream.codec_context.frame_size or None
        )
        self._audio_next: int | None = None  # output sample index of the next resampled sample

    def write(self, rgba: np.ndarray, pts: int | None = None, duration: int | None = None) -> None:
        """Encode one HxWx4 (straight alpha) or HxWx3 (opaque) uint8 frame at `pts` (in `time_base`).

        Without `pts` the frame follows the previous one; without `duration` it lasts 1/fps. Alpha
        is ignored by formats without it; opaque media can skip building an alpha plane.
        """
        pts = self._next_pts if pts is None else pts
        duration = self._frame_ticks if not duration or duration <= 0 else duration
        self._next_pts = pts + duration
        out_pts = _rescale(pts, self.time_base, self._tb)
        out_duration = max(1, _rescale(duration, self.time_base, self._tb))
        if self._last_pts is not None and out_pts <= self._last_pts:
            if self.fmt.container == "gif":  # two frames within one centisecond: GIF shows the first
                self._end = max(self._end, out_pts + out_duration)
                return
            out_pts = self._last_pts + 1  # a repeated or decreasing timestamp in the input
        if rgba.shape[2] == 3 and (self.fmt.alpha or self.fmt.pix_fmt == "pal8"):
            rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
        if (self.out_width, self.out_height) != (self.width, self.height):
            rgba = cv2.copyMakeBorder(
                rgba, 0, self.out_height - self.height, 0, self.out_width - self.width, cv2.BORDER_REPLICATE
            )
        if self.fmt.pix_fmt == "pal8":
            # PyAV takes pal8 as an (indices, palette) pair (documented); its stub only knows one array.
            frame = av.VideoFrame.from_ndarray((_gif_indices(rgba), _GIF_PALETTE), format="pal8")  # type: ignore[arg-type]
        elif self.fmt.alpha:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
        else:
            rgb = rgba if rgba.shape[2] == 3 else np.ascontiguousarray(rgba[..., :3])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = out_pts
        frame.time_base = self._tb
        self._last_pts = out_pts
        self._durations[out_pts] = out_duration
        self._end = max(self._end, out_pts + out_duration)
        self._mux_video(self._stream.encode(frame))
        self.frames += 1

    def _mux_video(self, packets: list[av.Packet[av.VideoStream]]) -> None:
        for packet in packets:
            packet.duration = self._durations.pop(packet.pts, 0) if packet.pts is not None else 0
            if self._held is not None:
                self._container.mux(self._held)
            self._held = packet

    def write_audio(self, frame: av.AudioFrame, seconds: float) -> None:
        """Encode one decoded audio frame that starts `seconds` after the first video frame.

        Only the first frame's time places the audio; the rest follows contiguously. A no-op when
        the writer has no audio stream.
        """
        if self._audio is None:
            return
        if self._audio_next is None:
            self._audio_next = round(seconds * self._audio_rate)
        frame.pts = None
        for out in self._resampler.resample(frame):
            self._encode_audio(out)

    def _encode_audio(self, frame: av.AudioFrame | None) -> None:
        assert self._audio is not None
        if frame is not None:
            assert self._audio_next is not None
            start, self._audio_next = self._audio_next, self._audio_next + frame.samples
            if start < 0:  # audio from before the first video frame
                if -start >= frame.samples:
                    return
                frame = _drop_samples(frame, -start)
                start = 0
            frame.pts = start
            frame.time_base = Fraction(1, self._audio_rate)
        for packet in self._audio.encode(frame):
            self._container.mux(packet)

    def close(self, flush: bool = True) -> None:
        """Finish the file; ``flush=False`` (after a failure) only releases it."""
        try:
            if flush:
                self._mux_video(self._stream.encode())
                if self._held is not None:
                    held = self._held
                    if self.fmt.container in ("mp4", "mov") and held.pts is not None:
                        held.duration = max(1, self._end - held.pts)  # the edit list ends at its pts + duration
                    self._container.mux(held)
                    self._held = None
                if self._audio is not None and self._audio_next is not None:
                    for out in self._resampler.resample(None):
                        self._encode_audio(out)
                    self._encode_audio(None)
        finally:
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(flush=exc_type is None)


def _drop_samples(frame: av.AudioFrame, count: int) -> av.AudioFrame:
    """The frame without its first `count` samples."""
    skip = count if frame.format.is_planar else count * len(frame.layout.channels)  # packed: interleaved
    data = frame.to_ndarray()[:, skip:].copy()  # contiguous; .copy() keeps the sample type, for the type checker
    out = av.AudioFrame.from_ndarray(data, format=frame.format.name, layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


def frame_to_rgba(frame: av.VideoFrame) -> np.ndarray:
    """HxWx4 uint8 of a decoded frame, alpha read straight from its plane when it has one.

    swscale's yuv(a) -> rgba conversion zeroes alpha in the last columns when the width is not a
    multiple of 8 (seen with FFmpeg 8.1 in PyAV 18), so planar alpha never goes through it.
    """
    name = frame.format.name
    rgb = frame.to_ndarray(format="rgb24")
    if not name.startswith("yuva"):
        if any(c.is_alpha for c in frame.format.components):  # packed alpha (GIF decodes to bgra)
            return frame.to_ndarray(format="rgba")
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    plane = frame.planes[3]
    wide = name.endswith(("10le", "12le", "16le"))
    dtype = np.dtype("<u2") if wide else np.dtype(np.uint8)
    rows = np.frombuffer(memoryview(plane), dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    alpha = rows[: frame.height, : frame.width]
    if wide:
        bits = int(name[-4:-2])
        alpha = (alpha.astype(np.uint32) * 255 // ((1 << bits) - 1)).astype(np.uint8)
    return np.dstack([rgb, alpha])


def read_rgba(path: str | Path) -> Iterator[np.ndarray]:
    """Decode every frame as RGBA, with real alpha for VP9 (libvpx-vp9), ProRes 4444 and GIF."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            for packet in container.demux(stream):
                if packet.size:
                    for frame in decoder.decode(packet):
                        yield frame_to_rgba(frame)
            for frame in decoder.decode(None):
                yield frame_to_rgba(frame)
            return
        for frame in container.decode(stream):
            yield frame_to_rgba(frame)
