"""Video: quality gates through real codecs, all nine formats round-tripped, the format rules, and
videos as phones make them (rotation, variable frame rate, audio, odd sizes, 10-bit, hidden duration)."""

from __future__ import annotations

from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from mockserver.engine.auto import Gates
from mockserver.engine.classic import ClassicSegmenter
from mockserver.engine.codecs import ALPHA_FORMATS, FORMATS, VideoWriter, read_rgba
from mockserver.engine.compose import TRANSPARENT, Background
from mockserver.engine.errors import DurationTooLong, InvalidOption, MalformedVideo, NoForeground
from mockserver.engine.inputs import probe_video
from mockserver.engine.keyframes import KeyframeSegmenter, NeuralSegmenter
from mockserver.engine.metrics import iou
from mockserver.engine.synth import Clip
from mockserver.engine.video import DEFAULT_MODE, choose_format, process_video, video_engine, video_segmenter
from mockserver.providers.work import parse_background
from tests.phone_media import (
    LANDSCAPE,
    ODD,
    PORTRAIT,
    SUBJECT,
    Scene,
    decode,
    long_hidden_webm,
    lying_duration,
    phone_clips,
    regular,
    write_video,
)


@pytest.mark.parametrize("mode", ["keyframe", "classic"])
def test_video_quality_gates(small_clip: tuple[Clip, Path], tmp_path: Path, mode: str) -> None:
    clip, src = small_clip
    stats = process_video(src, tmp_path / "out.webm", FORMATS["webm_vp9"], TRANSPARENT, mode=mode)
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


# --- videos as phones make them ------------------------------------------------------------------

GREEN = parse_background("green")
AUDIO_FORMATS = {name: f.audio for name, f in FORMATS.items()}
DECODED_AUDIO = {"libopus": "opus", "aac": "aac", "pcm_s16le": "pcm_s16le", None: None}


def _background(name: str) -> Background:
    return TRANSPARENT if FORMATS[name].alpha else GREEN


def _subject(frame: np.ndarray, name: str) -> np.ndarray:
    """Where the output shows the subject: alpha, or (opaque formats) not the green backdrop."""
    if FORMATS[name].alpha:
        return frame[..., 3] >= 128
    return np.abs(frame[..., :3].astype(int) - (0, 255, 0)).max(axis=2) > 80


def _disc(scene: Scene, i: int) -> np.ndarray:
    mask = np.zeros((scene.height, scene.width), np.uint8)
    cv2.circle(mask, (scene.cx + scene.drift * i, scene.cy), scene.r, 1, -1)
    return mask.astype(bool)


def _tick(name: str) -> float:
    """One tick of the coarser clock: GIF counts centiseconds, Matroska milliseconds."""
    return 0.01 if name == "gif" else 0.001


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each kind of phone input, made once for the module."""
    d = tmp_path_factory.mktemp("phone")
    return {
        **phone_clips(d),
        "h264_10": write_video(
            d / "h264_10.mp4", (LANDSCAPE.frame(i) for i in range(8)), regular(8, 8), pix_fmt="yuv420p10le"
        ),
        "hidden": long_hidden_webm(d / "hidden.webm"),
        "lying": lying_duration(d / "lying.mkv"),
    }


@pytest.mark.parametrize("name", ["webm_vp9", "mov_proresks", "gif", "mp4_h264"])
def test_portrait_phone_video_comes_back_portrait(phone: dict[str, Path], tmp_path: Path, name: str) -> None:
    src = decode(phone["portrait"])
    assert (src.width, src.height, src.rotation) == (160, 96, -90), "the input is a landscape raster with a matrix"
    info = probe_video(phone["portrait"])
    assert (info.width, info.height) == (96, 160), "the probe reports the size as displayed"
    out = tmp_path / f"o.{FORMATS[name].extension}"
    stats = process_video(phone["portrait"], out, FORMATS[name], _background(name))
    assert (stats.width, stats.height) == (96, 160)
    decoded = decode(out)
    assert (decoded.width, decoded.height, decoded.rotation) == (96, 160, 0), "upright, and no matrix left"
    for i, frame in enumerate(read_rgba(out)):
        subject = _subject(frame, name)
        assert subject[PORTRAIT.inside(i)] and not subject[PORTRAIT.outside()]
        assert iou(subject.astype(float), _disc(PORTRAIT, i).astype(float)) >= 0.85


@pytest.mark.parametrize(("rotation", "hflip"), [(-90, False), (90, False), (180, False), (0, True), (90, True)])
def test_every_display_matrix_is_applied(tmp_path: Path, rotation: int, hflip: bool) -> None:
    """The raster is the displayed scene turned back; the passthrough output must be the scene."""
    scene = Scene(96, 64, 20, 16, 10)
    shown = scene.frame(0)
    raster = np.fliplr(shown) if hflip else shown  # the matrix mirrors after rotating
    raster = np.ascontiguousarray(np.rot90(raster, -rotation // 90))
    src = tmp_path / "in.mkv"
    write_video(
        src, [raster] * 3, regular(3, 10), container="matroska", rotation=rotation, hflip=hflip, options={"crf": "1"}
    )
    out = tmp_path / "o.mov"
    process_video(src, out, FORMATS["mov_proresks"], TRANSPARENT, segment=False)
    frame = next(read_rgba(out))[..., :3].astype(int)
    assert frame.shape == shown.shape
    assert np.abs(frame - shown).mean() < 3, "the raster was not turned the way its matrix says"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_variable_frame_rate_keeps_every_timestamp(phone: dict[str, Path], tmp_path: Path, name: str) -> None:
    src = decode(phone["vfr"])
    gaps = np.diff(src.times)
    assert gaps.max() - gaps.min() > 0.05, "the input is not VFR"
    out = tmp_path / f"o.{FORMATS[name].extension}"
    stats = process_video(phone["vfr"], out, FORMATS[name], _background(name))
    decoded = decode(out)
    assert len(decoded.times) == len(src.times) == stats.frames
    assert np.abs(np.array(decoded.times) - src.times).max() <= _tick(name) / 2 + 1e-6
    assert src.duration is not None and decoded.duration is not None
    assert abs(decoded.duration - src.duration) <= _tick(name) + 1e-6, "the total duration changed"
    assert abs(stats.seconds - src.duration) <= 0.001
    assert decoded.audio_codec is None and not stats.audio, "no audio in, no audio out"


def _dominant_hz(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        # The first channel: a row of a planar frame, every n-th sample of a packed one.
        chunks = [
            f.to_ndarray()[0] if f.format.is_planar else f.to_ndarray()[0, :: len(f.layout.channels)]
            for f in container.decode(stream)
        ]
        rate = stream.codec_context.sample_rate
    mono = np.concatenate(chunks).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_audio_is_kept_where_the_format_carries_it(phone: dict[str, Path], tmp_path: Path, name: str) -> None:
    src = decode(phone["audio"])
    assert src.audio_seconds is not None and src.audio_seconds >= 1.5
    out = tmp_path / f"o.{FORMATS[name].extension}"
    stats = process_video(phone["audio"], out, FORMATS[name], _background(name))
    decoded = decode(out)
    assert decoded.audio_codec == DECODED_AUDIO[AUDIO_FORMATS[name]] and stats.audio == (name != "gif")
    if name == "gif":
        return
    assert decoded.audio_seconds is not None
    assert abs(decoded.audio_seconds - src.audio_seconds) <= 0.05
    assert abs(_dominant_hz(out) - 440) < 5, "the audio is not the input's sine"
    assert np.abs(np.array(decoded.times) - src.times).max() <= _tick(name) / 2 + 1e-6, "audio moved the video"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_odd_sizes_are_kept_where_the_codec_allows(phone: dict[str, Path], tmp_path: Path, name: str) -> None:
    fmt = FORMATS[name]
    out = tmp_path / f"o.{fmt.extension}"
    stats = process_video(phone["odd"], out, fmt, _background(name))
    expected = (162, 98) if fmt.encoder in ("libx264", "libx265") else (161, 97)
    assert (stats.width, stats.height) == expected
    decoded = decode(out)
    assert (decoded.width, decoded.height) == expected
    for i, frame in enumerate(read_rgba(out)):
        subject = _subject(frame[:97, :161], name)
        assert iou(subject.astype(float), _disc(ODD, i).astype(float)) >= 0.85
        if fmt.alpha:  # alpha intact to the last row and column
            assert frame[-1, :, 3].max() <= 5 and frame[:, -1, 3].max() <= 5
            assert frame[ODD.inside(i)][3] >= 250


def test_gif_keeps_a_subject_on_the_bottom_row(tmp_path: Path) -> None:
    frames = _ramp_frames(3)
    for f in frames:
        f[-1, :, 3] = 255  # the subject touches the bottom edge
    path = tmp_path / "o.gif"
    with VideoWriter(path, FORMATS["gif"], 130, 64, Fraction(10)) as writer:
        for frame in frames:
            writer.write(frame)
    for frame, decoded in zip(frames, read_rgba(path), strict=True):
        assert np.array_equal(decoded[..., 3] > 127, frame[..., 3] >= 128)


@pytest.mark.parametrize("kind", ["hevc10", "h264_10"])
def test_ten_bit_inputs_decode(phone: dict[str, Path], tmp_path: Path, kind: str) -> None:
    with av.open(str(phone[kind])) as container:
        assert next(container.decode(video=0)).format.name == "yuv420p10le"
    out = tmp_path / "o.mov"
    process_video(phone[kind], out, FORMATS["mov_proresks"], TRANSPARENT)
    for i, frame in enumerate(read_rgba(out)):
        inside, outside = frame[LANDSCAPE.inside(i)], frame[LANDSCAPE.outside()]
        assert inside[3] >= 250 and np.abs(inside[:3].astype(int) - SUBJECT).max() <= 12
        assert outside[3] <= 5
        assert iou(frame[..., 3] / 255, _disc(LANDSCAPE, i).astype(float)) >= 0.85


@pytest.mark.parametrize("kind", ["hidden", "lying"])
def test_duration_limit_is_on_decoded_time(phone: dict[str, Path], tmp_path: Path, kind: str) -> None:
    """90 s at one frame per 2 s; the container states nothing (live WebM) or 5 s (patched)."""
    assert probe_video(phone[kind]).seconds in (0.0, 5.0), "the probe should have been fooled"
    done: list[int] = []
    with pytest.raises(DurationTooLong):
        process_video(
            phone[kind],
            tmp_path / "o.webm",
            FORMATS["webm_vp9"],
            TRANSPARENT,
            max_seconds=60,
            progress=lambda n, total: done.append(n),
        )
    assert len(decode(phone[kind]).times) == 45
    assert len(done) <= 30, "frames past 60 s were processed"


def test_a_clip_inside_the_limit_passes(phone: dict[str, Path], tmp_path: Path) -> None:
    stats = process_video(phone["hidden"], tmp_path / "o.webm", FORMATS["webm_vp9"], TRANSPARENT, max_seconds=90)
    assert stats.frames == 45 and 88 <= stats.seconds <= 90


def test_audio_past_the_limit_is_refused(tmp_path: Path) -> None:
    src = write_video(tmp_path / "in.mp4", (LANDSCAPE.frame(i) for i in range(10)), regular(10, 10), audio_seconds=4.0)
    with pytest.raises(DurationTooLong):
        process_video(src, tmp_path / "o.webm", FORMATS["webm_vp9"], TRANSPARENT, max_seconds=3)
    stats = process_video(src, tmp_path / "o.webm", FORMATS["webm_vp9"], TRANSPARENT, max_seconds=5)
    assert stats.audio and abs(decode(tmp_path / "o.webm").audio_seconds - 4.0) <= 0.05


# --- video modes ---------------------------------------------------------------------------------


def _ious(segmenter: object, frames: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    return [iou(segmenter.segment(rgb), truth) for rgb, truth in frames]  # type: ignore[attr-defined]


def test_keyframe_mode_runs_the_whole_engine_on_few_frames() -> None:
    frames = list(Clip(seed=5, size=(360, 640), n_frames=30, background="gradient").frames())
    segmenter = KeyframeSegmenter(every=30)
    ious = _ious(segmenter, frames)
    assert np.mean(ious) >= 0.98 and min(ious) >= 0.96, (np.mean(ious), min(ious))
    assert segmenter.keyframes == 1 and segmenter.windowed == 29


def test_keyframe_mode_starts_again_at_a_cut() -> None:
    first = list(islice(Clip(seed=5, size=(360, 640), n_frames=60, background="gradient").frames(), 8))
    second = list(islice(Clip(seed=9, size=(360, 640), n_frames=60, background="vignette").frames(), 8))
    segmenter = KeyframeSegmenter(every=30)
    ious = _ious(segmenter, first)
    assert segmenter.keyframes == 1
    ious += _ious(segmenter, second[:1])
    assert segmenter.keyframes == 2, "the cut did not make a keyframe"
    ious += _ious(segmenter, second[1:])
    assert min(ious) >= 0.95, ious


def test_keyframe_mode_holds_a_spotlit_backdrop_where_classic_loses_it() -> None:
    """On the whole frame the spotlight's falloff defeats classic's border plate; in the subject's
    window it is a plain backdrop again (the keyframe goes to u2netp, refined)."""
    frames = list(islice(Clip(seed=11, size=(360, 640), n_frames=150, background="spotlight").frames(), 20))
    segmenter = KeyframeSegmenter(every=30)
    keyframe = _ious(segmenter, frames)
    assert np.mean(keyframe) >= 0.96 and min(keyframe) >= 0.9, (np.mean(keyframe), min(keyframe))
    assert segmenter.keyframes == 1 and segmenter.windowed == 19
    classic = _ious(ClassicSegmenter(proc_long_side=320), frames)
    assert np.mean(classic) < 0.6, "the clip no longer shows classic's limit"


def test_keyframe_mode_bounds_the_neural_cost() -> None:
    """Where classic is never safe, u2netp runs on one frame in `every_neural`, the mask carried between."""
    frames = list(islice(Clip(seed=11, size=(180, 320), n_frames=150, background="gradient").frames(), 12))
    never = Gates(max_noise=-1.0)  # classic is safe nowhere, on the whole frame or in a window
    segmenter = KeyframeSegmenter(every_neural=5, gates=never)
    ious = _ious(segmenter, frames)
    assert (segmenter.keyframes, segmenter.windowed, segmenter.carried) == (3, 0, 9)
    assert min(ious) >= 0.9, ious


def test_neural_mode_is_u2netp_refined(small_clip: tuple[Clip, Path]) -> None:
    clip, _ = small_clip
    frames = [f for _, f in zip(range(2), clip.frames(), strict=False)]
    assert min(_ious(NeuralSegmenter(), frames)) >= 0.95


def test_modes_by_name() -> None:
    assert DEFAULT_MODE == "keyframe"
    assert isinstance(video_segmenter("keyframe"), KeyframeSegmenter)
    assert video_segmenter("keyframe") is not video_segmenter("keyframe"), "stateful: one per clip"
    assert video_segmenter("classic").name == "classic" and video_segmenter("neural").name == "neural"
    with pytest.raises(ValueError, match="unknown video mode"):
        video_segmenter("magic")
    assert video_engine("auto") == {} and video_engine("classic") == {"mode": "classic"}
    assert video_engine("u2netp") == {"mode": "neural"}


@pytest.mark.parametrize("mode", ["keyframe", "classic"])
def test_a_clip_with_no_subject_is_refused(tmp_path: Path, mode: str) -> None:
    """Every mask collapsed: NoForeground (each provider's failure), never an empty cut-out."""
    src = tmp_path / "flat.webm"
    with VideoWriter(src, FORMATS["webm_vp9"], 96, 64, Fraction(10)) as writer:
        for _ in range(6):
            writer.write(np.full((64, 96, 3), 128, np.uint8))
    with pytest.raises(NoForeground):
        process_video(src, tmp_path / "out.webm", FORMATS["webm_vp9"], TRANSPARENT, mode=mode)
