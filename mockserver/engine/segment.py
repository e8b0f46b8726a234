"""Foreground segmentation: ``segment(rgb) -> alpha``, and the engines by name.

Engines (DESIGN §6): ``auto`` (the default: classic where it is safe, u2netp otherwise, engine/auto.py),
``classic`` (model-free border plate, engine/classic.py), ``u2netp`` (the shipped U²-Net small model,
engine/neural.py) and ``onnx:<path>`` (a user's saliency model). Nothing is ever downloaded. No engine
reports success on a collapsed mask: ``segment(..., require_subject=True)`` raises NoForeground.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol, runtime_checkable

import numpy as np

from mockserver.engine.auto import AutoSegmenter
from mockserver.engine.classic import COLLAPSED_AREA, ClassicSegmenter
from mockserver.engine.errors import NoForeground

__all__ = ["ENGINES", "AutoSegmenter", "ClassicSegmenter", "Segmenter", "get_segmenter", "segment"]

ENGINES = ("auto", "classic", "u2netp", "onnx:<path>")


@runtime_checkable
class Segmenter(Protocol):
    """Anything that turns an RGB image into a straight alpha matte."""

    name: str

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 alpha in [0, 1]."""
        ...


@cache
def get_segmenter(spec: str = "auto") -> Segmenter:
    """Engine by name, one instance per process: ``auto``, ``classic``, ``u2netp`` or ``onnx:<path>``.

    Raises ValueError for an unknown name and FileNotFoundError for a missing ONNX file.
    """
    if spec in ("", "auto"):
        return AutoSegmenter()
    if spec == "classic":
        return ClassicSegmenter()
    if spec == "u2netp":
        from mockserver.engine.neural import u2netp

        return u2netp()
    if spec.startswith("onnx:"):
        from mockserver.engine.neural import OnnxSegmenter

        return OnnxSegmenter(spec.removeprefix("onnx:"))
    raise ValueError(f"unknown engine {spec!r}: use {', '.join(ENGINES)}")


def segment(rgb: np.ndarray, engine: Segmenter | None = None, *, require_subject: bool = False) -> np.ndarray:
    """Alpha matte of `rgb` (HxWx3 uint8) with the given engine (auto by default): HxW float32.

    With `require_subject`, an image where nothing stands out from the background raises
    NoForeground, which each provider maps to its own failure (Pixelcut's ``unknown_foreground``).
    """
    alpha = (engine or get_segmenter()).segment(rgb)
    if require_subject and float((alpha > 0.5).mean()) < COLLAPSED_AREA:
        raise NoForeground("The foreground subject of the image could not be detected")
    return alpha
