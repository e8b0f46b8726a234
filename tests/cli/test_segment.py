"""`cutout-mock segment`: the output's extension names what is written; the progress bar on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mockserver.cli import main
from mockserver.engine.codecs import read_rgba
from mockserver.engine.synth import make_image


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(make_image(1001, (128, 128), background="gradient").rgb).save(path)
    return path


@pytest.mark.parametrize("name", ["cut.jpg", "cut.webp", "cut.webm", "cut"])
def test_an_image_to_anything_but_png_is_refused_and_nothing_written(
    photo: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    assert main(["segment", str(photo), str(out)]) == 2
    assert "an image is cut out to a PNG with alpha; name the output .png" in capsys.readouterr().err
    assert not out.exists()


def test_an_image_to_an_upper_case_png_is_fine(photo: Path, tmp_path: Path) -> None:
    assert main(["segment", str(photo), str(tmp_path / "CUT.PNG")]) == 0


@pytest.mark.parametrize(
    ("name", "flags", "message"),
    [
        ("cut.png", [], "a video is written as .webm, .mkv, .mov, .gif or .mp4, not .png"),
        ("cut.jpg", [], "not .jpg"),
        ("cut", [], "not no extension"),
        ("cut.mp4", ["--format", "mkv_h264"], "--format mkv_h264 writes a .mkv file"),
        ("cut.webm", ["--format", "gif"], "--format gif writes a .gif file"),
    ],
)
def test_a_video_to_a_mismatched_extension_is_refused_and_nothing_written(
    tiny_clip: Path, tmp_path: Path, name: str, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    assert main(["segment", str(tiny_clip), str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_format_whose_extension_matches_is_written(tiny_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.mkv"
    assert main(["segment", str(tiny_clip), str(out), "--format", "mkv_h264", "--background", "green"]) == 0
    assert len(list(read_rgba(out))) == 8


def test_on_a_terminal_the_bar_is_redrawn_in_place(tiny_clip: Path, tmp_path: Path) -> None:
    """The other side of tests/engine/test_cli.py's pipe: a terminal gets the live bar."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "mockserver.cli", "segment", str(tiny_clip), str(tmp_path / "cut.gif")]
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, env=env
    ) as done:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
    os.close(leader)
    assert done.returncode == 0, drawn
    assert b"8/8" in drawn and b"frames" in drawn
    assert drawn.count(b"\r\x1b[2K") > 1  # redrawn in place: back to the line's start, erase, draw
