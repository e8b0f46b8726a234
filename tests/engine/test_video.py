"""Video: quality gates through real codecs, all nine formats round-tripped, the format rules."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from mockserver.engine.codecs import ALPHA_FORMATS, FORMATS, VideoWriter, read_rgba
from mockserver.engine.compose import TRANSPARENT, Background, parse_background
from mockserver.engine.errors import InvalidOption, MalformedVideo
from mockserver.engine.metrics import iou
from mockserver.engine.synth import Clip
from mockserver.engine.video import choose_format, process_video


def test_video_quality_gates(small_clip: tuple[Clip, Path], tmp_path: Path) -> None:
    clip, src = small_clip
    stats = process_video(src, tmp_path / "out.webm", FORMATS["webm_vp9"], TRANSPARENT)
    assert stats.frames == clip.n_frames
    decoded = list(read_rgba(tmp_path / "out.webm"))
    ious = [iou(frame[..., 3] / 255, truth) for frame, (_, truth) in zip(decoded, clip.frames(), strict=True)]
    assert np.mean(ious) >= 0.97, np.mean(ious)
    assert min(ious) >= 0.94, min(ious)


def _ramp_frames(n: int, h: int = 64, w: int = 130) -> list[np.ndarray]:
    """Known RGBA: a moving opaque disc with a soft edge over a transparent, coloured field."""
    frames = []
    for i in range(n):
        alpha = np.zeros((h, w), np.float32)
        cv2.circle(alpha, (20 + 6 * i, h // 2), 18, 1.0, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[...] = (40, 160, 220)
        frames.append(np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)]))
    return frames


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_round_trips(name: str, tmp_path: Path) -> None:
    fmt = FORMATS[name]
    frames = _ramp_frames(6)
    path = tmp_path / f"out.{fmt.extension}"
    # Width 130 on purpose: not a multiple of 8, where swscale's yuva -> rgba loses alpha.
    with VideoWriter(path, fmt, 130, 64, Fraction(25)) as writer:
        for frame in frames:
            writer.write(frame)
    decoded = list(read_rgba(path))
    assert len(decoded) == len(frames)
    assert decoded[0].shape == (64, 130, 4)
    alpha_in = np.stack([f[..., 3] for f in frames]).astype(np.float32)
    alpha_out = np.stack([f[..., 3] for f in decoded]).astype(np.float32)
    if name in ALPHA_FORMATS:
        if name == "gif":  # one transparent palette entry: alpha is binary at 50 %
            assert np.mean((alpha_out > 127) == (alpha_in >= 128)) >= 0.999
        else:
            assert np.abs(alpha_out - alpha_in).mean() <= 8, "alpha lost beyond codec loss"
            assert alpha_out.min() <= 5 and alpha_out.max() >= 250
    else:
        assert alpha_out.min() == 255


def test_odd_sizes_are_padded_for_420_formats(tiny_clip: Path, tmp_path: Path) -> None:
    stats = process_video(tiny_clip, tmp_path / "out.mp4", FORMATS["mp4_h264"], parse_background("green"))
    assert (stats.width, stats.height) == (130, 98)
    frame = next(read_rgba(tmp_path / "out.mp4"))
    corner = frame[2, 2, :3].astype(int)
    assert abs(corner[1] - 255) < 30 and corner[0] < 40 and corner[2] < 40, "background is not green"


def test_opaque_output_composites_over_the_colour(small_clip: tuple[Clip, Path], tmp_path: Path) -> None:
    clip, src = small_clip
    process_video(src, tmp_path / "m.mp4", FORMATS["mp4_h264"], Background((255, 0, 255)), max_frames=3)
    frame = next(read_rgba(tmp_path / "m.mp4"))
    _, truth = next(clip.frames())
    outside = truth < 0.01
    colour = frame[..., :3][outside].astype(int).mean(axis=0)
    assert np.abs(colour - (255, 0, 255)).max() < 20


def test_passthrough_reference_keeps_every_pixel_opaque(tiny_clip: Path, tmp_path: Path) -> None:
    stats = process_video(tiny_clip, tmp_path / "p.webm", FORMATS["webm_vp9"], TRANSPARENT, segment=False)
    assert stats.frames == 8
    assert all(f[..., 3].min() >= 250 for f in read_rgba(tmp_path / "p.webm"))


def test_progress_is_reported(tiny_clip: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    process_video(tiny_clip, tmp_path / "o.gif", FORMATS["gif"], TRANSPARENT, progress=lambda d, t: seen.append((d, t)))
    assert [d for d, _ in seen] == list(range(1, 9))


def test_corrupt_video_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(MalformedVideo):
        process_video(bad, tmp_path / "o.webm", FORMATS["webm_vp9"], TRANSPARENT)


class TestChooseFormat:
    def test_transparent_defaults_to_webm(self) -> None:
        assert choose_format(TRANSPARENT, None).name == "webm_vp9"

    def test_opaque_default_is_configurable(self) -> None:
        black = Background((0, 0, 0))
        assert choose_format(black, None).name == "mp4_h264"
        assert choose_format(black, None, default_opaque="webm_vp9").name == "webm_vp9"

    @pytest.mark.parametrize("name", ["mp4_h264", "mp4_h265", "mov_h265", "mkv_h264", "mkv_h265"])
    def test_transparent_needs_alpha(self, name: str) -> None:
        with pytest.raises(InvalidOption, match="alpha format"):
            choose_format(TRANSPARENT, name)

    def test_provider_can_narrow_the_alpha_set(self) -> None:
        pixelcut = frozenset({"webm_vp9", "mov_proresks", "gif"})
        with pytest.raises(InvalidOption):
            choose_format(TRANSPARENT, "mkv_vp9", alpha_formats=pixelcut)
        assert choose_format(TRANSPARENT, "mkv_vp9").name == "mkv_vp9"

    def test_unknown_format(self) -> None:
        with pytest.raises(InvalidOption, match="unknown output_format"):
            choose_format(TRANSPARENT, "avi_xvid")
