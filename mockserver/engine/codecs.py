"""The nine output video formats, as data, and a frame writer and reader over PyAV.

Formats are a table (container, encoder, pixel format, options), so adding one is a row, not code.
Alpha travels in VP9 (WebM and Matroska, as a second stream in BlockAdditional), ProRes 4444 and GIF
(a transparent palette entry). The pitfalls of research/stack.md are handled here once: HEVC gets the
``hvc1`` tag, x265 is kept quiet, 4:2:0 formats get even dimensions, GIF frames are built as pal8
directly, and VP9 alpha is decoded with libvpx-vp9 (FFmpeg's native decoder drops it silently).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

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

    @property
    def needs_even_size(self) -> bool:
        return self.pix_fmt.endswith("420p")


FORMATS: dict[str, VideoFormat] = {
    f.name: f
    for f in [
        VideoFormat("webm_vp9", "webm", "libvpx-vp9", "yuva420p", "webm", "video/webm", True, _VP9),
        VideoFormat("mkv_vp9", "matroska", "libvpx-vp9", "yuva420p", "mkv", "video/x-matroska", True, _VP9),
        VideoFormat(
            "mov_proresks",
            "mov",
            "prores_ks",
            "yuva444p10le",
            "mov",
            "video/quicktime",
            True,
            {"profile": "4", "vendor": "apl0"},
        ),
        VideoFormat("gif", "gif", "gif", "pal8", "gif", "image/gif", True),
        VideoFormat("mp4_h264", "mp4", "libx264", "yuv420p", "mp4", "video/mp4", False, _X264),
        VideoFormat("mp4_h265", "mp4", "libx265", "yuv420p", "mp4", "video/mp4", False, _X265, "hvc1"),
        VideoFormat("mov_h265", "mov", "libx265", "yuv420p", "mov", "video/quicktime", False, _X265, "hvc1"),
        VideoFormat("mkv_h264", "matroska", "libx264", "yuv420p", "mkv", "video/x-matroska", False, _X264),
        VideoFormat("mkv_h265", "matroska", "libx265", "yuv420p", "mkv", "video/x-matroska", False, _X265),
    ]
}
ALPHA_FORMATS = frozenset(name for name, f in FORMATS.items() if f.alpha)


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


class VideoWriter:
    """Streams RGBA frames into a file of one of FORMATS. Use as a context manager."""

    def __init__(
        self,
        path: str | Path,
        fmt: VideoFormat,
        width: int,
        height: int,
        fps: Fraction,
        options: dict[str, str] | None = None,
    ) -> None:
        """`options` override the format's encoder options (e.g. a faster preset for synthetic media)."""
        self.fmt = fmt
        self.width, self.height = width, height
        self.out_width = width + (width % 2 if fmt.needs_even_size else 0)
        self.out_height = height + (height % 2 if fmt.needs_even_size else 0)
        self._container = av.open(str(path), "w", format=fmt.container)
        self._stream = self._container.add_stream(fmt.encoder, rate=fps)
        self._stream.width, self._stream.height = self.out_width, self.out_height
        self._stream.pix_fmt = fmt.pix_fmt
        self._time_base = Fraction(1) / Fraction(fps)
        if fmt.options or options:
            self._stream.options = {**fmt.options, **(options or {})}
        if fmt.codec_tag:
            self._stream.codec_tag = fmt.codec_tag
        self.frames = 0

    def write(self, rgba: np.ndarray) -> None:
        """Encode one HxWx4 (straight alpha) or HxWx3 (opaque) uint8 frame.

        Alpha is ignored by formats without it; opaque media can skip building an alpha plane.
        """
        if rgba.shape[2] == 3 and (self.fmt.alpha or self.fmt.pix_fmt == "pal8"):
            rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
        if (self.out_width, self.out_height) != (self.width, self.height):
            rgba = cv2.copyMakeBorder(
                rgba, 0, self.out_height - self.height, 0, self.out_width - self.width, cv2.BORDER_REPLICATE
            )
        if self.fmt.pix_fmt == "pal8":
            frame = av.VideoFrame.from_ndarray((_gif_indices(rgba), _GIF_PALETTE), format="pal8")
        elif self.fmt.alpha:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
        else:
            rgb = rgba if rgba.shape[2] == 3 else np.ascontiguousarray(rgba[..., :3])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        frame.time_base = self._time_base
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self._container.mux(self._stream.encode())
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
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
