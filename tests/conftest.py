"""Shared fixtures: generated media only (nothing large is committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from mockserver.engine.synth import Clip

cv2.setNumThreads(1)  # the figures and gates are defined for one thread


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Clip, Path]:
    """A 2 s-class smoke clip, x264 encoded, with its ground truth available from `Clip.frames()`."""
    clip = Clip(seed=5, size=(360, 640), n_frames=30, background="gradient")
    return clip, clip.write(tmp_path_factory.mktemp("clips") / "gradient.mp4")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny input for format round trips and CLI runs (odd size on purpose)."""
    return Clip(seed=3, size=(97, 129), n_frames=8).write(tmp_path_factory.mktemp("clips") / "tiny.mp4")
