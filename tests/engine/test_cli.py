"""`cutout-mock segment` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mockserver.cli import main
from mockserver.engine.codecs import read_rgba
from mockserver.engine.metrics import iou
from mockserver.engine.synth import fruit_on_cloth, make_image


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    sample = make_image(1001, (256, 256), background="gradient")
    path = tmp_path / "photo.png"
    Image.fromarray(sample.rgb).save(path)
    return path, sample.alpha


def test_image_cutout(photo: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, truth = photo
    out = tmp_path / "cut.png"
    assert main(["segment", str(path), str(out)]) == 0
    with Image.open(out) as image:
        assert image.mode == "RGBA" and image.size == (256, 256)
        assert iou(np.asarray(image)[..., 3] / 255, truth) >= 0.90  # the per-image quality gate


def test_image_shadow_and_crop(photo: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = photo
    out = tmp_path / "cut.png"
    assert main(["segment", str(path), str(out), "--crop", "--shadow"]) == 0
    with Image.open(out) as image:
        width, height = image.size
    assert width < 256 and height < 256


def test_video_with_progress_bar(tiny_clip: Path, tmp_path: Path) -> None:
    """stderr is a pipe here: the bar's last state as one line, no carriage-return drawing in logs."""
    out = tmp_path / "cut.gif"
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli", "segment", str(tiny_clip), str(out), "--background", "transparent"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "8/8 frames" in done.stderr and "\r" not in done.stderr
    assert done.stderr.count("8/8 frames") == 1
    frames = list(read_rgba(out))
    assert len(frames) == 8 and frames[0][..., 3].min() == 0


def test_video_format_from_extension_and_background(tiny_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.mp4"
    assert main(["segment", str(tiny_clip), str(out), "--background", "custom", "--background-color", "#0000ff"]) == 0
    frame = next(read_rgba(out))
    assert frame[1, 1, 2] > 200 and frame[1, 1, 0] < 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "mp4_h264"], "alpha format"),
        (["--background", "purple"], "invalid colour"),
    ],
)
def test_bad_options_exit_2(
    tiny_clip: Path, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["segment", str(tiny_clip), str(tmp_path / "o.mp4"), *args]) == 2
    assert message in capsys.readouterr().err


def test_corrupt_and_missing_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"neither image nor video" * 10)
    assert main(["segment", str(bad), str(tmp_path / "o.png")]) == 2
    assert main(["segment", str(tmp_path / "missing.png"), str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "could not be opened" in err and "No such file" in err


@pytest.mark.parametrize("engine", ["auto", "classic", "u2netp"])
def test_image_cutout_with_each_engine(photo: tuple[Path, np.ndarray], tmp_path: Path, engine: str) -> None:
    path, truth = photo
    out = tmp_path / "cut.png"
    assert main(["segment", str(path), str(out), "--engine", engine]) == 0
    with Image.open(out) as image:
        assert iou(np.asarray(image)[..., 3] / 255, truth) >= 0.90


def test_an_unknown_engine_is_a_clear_error(
    photo: tuple[Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["segment", str(photo[0]), str(tmp_path / "o.png"), "--engine", "u2net"]) == 2
    assert "unknown engine 'u2net'" in capsys.readouterr().err


def test_a_collapsed_mask_is_an_error_not_an_empty_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, out = tmp_path / "fruit.png", tmp_path / "cut.png"
    Image.fromarray(fruit_on_cloth(4).rgb).save(path)
    assert main(["segment", str(path), str(out), "--engine", "classic"]) == 2
    assert "foreground subject of the image could not be detected" in capsys.readouterr().err
    assert not out.exists()
    assert main(["segment", str(path), str(out)]) == 0  # auto falls back to u2netp


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_refuses_an_unknown_engine_at_start(tmp_path: Path, how: str) -> None:
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--state-dir", str(tmp_path)]
    env = {**os.environ, "CUTOUT_MOCK_ENGINE": "onnx:/nowhere/model.onnx"} if how == "environment" else None
    flags = ["--engine", "onnx:/nowhere/model.onnx"] if how == "flag" else []
    done = subprocess.run([*command, *flags], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "ONNX model not found: /nowhere/model.onnx" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_image_is_named_as_an_image_not_a_video(
    photo: tuple[Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpeg = tmp_path / "p.jpg"
    Image.open(photo[0]).convert("RGB").save(jpeg, quality=90)
    truncated = tmp_path / "cut-short.jpg"
    truncated.write_bytes(jpeg.read_bytes()[:1500])
    assert main(["segment", str(truncated), str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and "pipe" not in err
