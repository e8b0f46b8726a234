"""The default engine, "auto": classic where it is safe, the neural mask otherwise.

Classic (border plate) gives the crispest full-resolution edges of all engines, but only on a plain,
well-explained backdrop with a subject clear of the frame; on real photos it fails in known ways
(research/neural.md: textured backdrops flood the subject, subjects touching the frame lose the
touching part). u2netp finds the subject on nearly every photo but at 320² its edges are soft.
So, per image:

1. classic runs first (~40 ms at 512²) and measures itself (ClassicMatte): its answer is kept when
   the backdrop is plain (``noise``, ``border_edges``), the border is explained by a smooth fit
   (``border_foreign``: nothing touches the frame), the subject stands out crisply (``ambiguity``:
   not blurred or low in contrast) and the mask is neither collapsed nor the whole frame (``area``);
2. otherwise u2netp's mask is taken, and classic's edge-band alpha refines it where the background
   next to the edge is plain (``ClassicSegmenter.refine``'s residual), which halves u2netp's edge
   error on plain and spotlit backdrops; on busy ones it eats edges, so there the neural alpha stays;
3. a neural mask that collapsed (nothing, or a speck) falls back to classic's if that one has not
   collapsed too; otherwise the alpha is empty and ``segment(require_subject=True)`` says so.

The thresholds are measured on the synthetic sets and the photo panel in fixtures/photos
(tests/engine/test_panel.py, ``make bench``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mockserver.engine.classic import PLAIN_NOISE, ClassicMatte, ClassicSegmenter
from mockserver.engine.neural import OnnxSegmenter, u2netp

__all__ = ["AutoSegmenter", "Gates"]


@dataclass(frozen=True)
class Gates:
    """Where auto trusts classic and where it refines the neural mask (see the module docstring)."""

    max_noise: float = PLAIN_NOISE  # 8-bit levels, RMS
    max_border_foreign: float = 0.03  # a soft floor shadow reaching the frame measured 0.025
    max_border_edges: float = 0.01
    max_ambiguity: float = 0.15
    min_area: float = 0.005  # fraction of the frame
    max_area: float = 0.85
    max_refine_noise: float = 6.0  # 8-bit levels, RMS, of the background next to the neural mask's edge

    def classic_is_safe(self, matte: ClassicMatte) -> bool:
        return (
            matte.noise <= self.max_noise
            and matte.border_foreign <= self.max_border_foreign
            and matte.border_edges <= self.max_border_edges
            and matte.ambiguity <= self.max_ambiguity
            and self.min_area <= matte.area <= self.max_area
        )


class AutoSegmenter:
    """Classic where it is safe, else u2netp, refined by classic's edge band where the backdrop is plain."""

    name = "auto"

    def __init__(
        self, classic: ClassicSegmenter | None = None, neural: OnnxSegmenter | None = None, gates: Gates = Gates()
    ) -> None:
        self.classic = classic or ClassicSegmenter()
        self._neural = neural
        self.gates = gates

    @property
    def neural(self) -> OnnxSegmenter:
        """The neural engine, loaded on first use (a classic-only run never pays for the session)."""
        if self._neural is None:
            self._neural = u2netp()
        return self._neural

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 alpha in [0, 1]."""
        matte = self.classic.analyse(rgb)
        if self.gates.classic_is_safe(matte):
            return matte.alpha
        soft = self.neural.segment(rgb)
        mask = soft > 0.5
        if mask.mean() < self.gates.min_area:
            return np.zeros_like(soft) if matte.collapsed else matte.alpha
        refined, noise = self.classic.refine(rgb, mask)
        return refined if noise <= self.gates.max_refine_noise else soft
