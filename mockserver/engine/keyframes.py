"""Video segmentation that does not run the whole engine on the whole of every frame.

``KeyframeSegmenter`` is stateful (one clip, frames in order). A keyframe runs the ``auto`` engine on
the whole frame: classic where its own measures call it safe, else u2netp refined by classic's edge
band. Between keyframes the last alpha is carried onto the frame by dense optical flow (OpenCV's DIS
at the processing resolution, under a millisecond) and classic looks for the subject only in a
window around it: the carried mask's box widened by a margin (12 % of the frame's long side) that
covers the motion between two frames and leaves the plate enough backdrop. In that window the
backdrop is the few pixels around the subject, so classic's border plate holds where it does not
on the whole frame (a vignette's or a spotlight's falloff). Its mask is taken when classic's
measures call it safe there (the gates of ``auto``; tried at the frame's processing density, then at
twice it) and it agrees with the carried mask; its edge band is the whole frame's width
(``band_radius``), as if classic had run on the whole frame.

When the window does not hold, the frame becomes a keyframe, except after a neural keyframe (classic
was not safe on the whole frame): u2netp costs ~250 ms a frame, so until the next keyframe the
carried mask is used, re-snapped by classic's edge band where the backdrop beside it is plain. A
keyframe comes every ``every`` frames (``every_neural`` once a carried mask was used), and when the
flow no longer explains the frame (a cut, a fast pan: the flow-compensated difference jumps).

Measured on synthetic 720p clips (Clip, first 40 frames with their keyframe, raw frames, one thread
on a loaded 2-core machine; ms are CPU per frame): gradient IoU 0.999 at 14 ms, vignette 0.999 at
36 ms, spotlight 0.981 (worst frame 0.960) at 94 ms, its keyframe going to u2netp (classic on every
frame: 0.29 there; u2netp on every frame ~250 ms). An earlier version solved the edge band again in
a second, frame-sized window (classic sizes its band by the image's short side): 42 ms on the
gradient clip for the same IoU, and a margin of 8 % starved the spotlight's plate (0.956).
"""

from __future__ import annotations

import cv2
import numpy as np

from mockserver.engine.auto import AutoSegmenter, Gates
from mockserver.engine.classic import ClassicSegmenter, band_radius
from mockserver.engine.metrics import iou

__all__ = ["KeyframeSegmenter", "NeuralSegmenter"]

MIN_AGREEMENT = 0.7  # IoU between the window's classic mask and the carried one
WINDOW_DENSITIES = (1.0, 2.0)  # the window's processing density, as multiples of the whole frame's


class KeyframeSegmenter:
    """auto on keyframes, classic in the subject's window in between (see the module docstring)."""

    name = "keyframe"

    def __init__(
        self,
        keyframe: AutoSegmenter | None = None,
        *,
        every: int = 30,
        every_neural: int = 10,
        proc_long_side: int = 320,
        margin: float = 0.12,
        cut_threshold: float = 12.0,
        gates: Gates | None = None,
    ) -> None:
        self.proc_long_side = proc_long_side
        self.gates = gates or Gates()
        classic = ClassicSegmenter(proc_long_side=proc_long_side)
        self.keyframe = keyframe or AutoSegmenter(classic=classic, gates=self.gates)
        self.every, self.every_neural = every, every_neural
        self.margin = margin  # of the frame's long side, each way around the carried mask's box
        self.cut_threshold = cut_threshold  # mean abs 8-bit difference after flow compensation
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._gray: np.ndarray | None = None
        self._alpha: np.ndarray | None = None  # the last frame's alpha at the processing resolution
        self._since_key = 0
        self._neural = False  # the last keyframe was u2netp's
        self._drifting = False  # a carried mask was used since the last keyframe
        self.keyframes = 0  # frames that ran the full engine (figures and tests)
        self.windowed = 0  # frames whose mask came from classic in the window
        self.carried = 0  # frames that took the carried mask (after a neural keyframe)

    def _small_size(self, h: int, w: int) -> tuple[int, int]:
        scale = min(1.0, self.proc_long_side / max(h, w))
        return max(8, round(w * scale)), max(8, round(h * scale))

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB (the clip's next frame) -> HxW float32 alpha in [0, 1]."""
        h, w = rgb.shape[:2]
        size = self._small_size(h, w)
        gray = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        every = self.every_neural if self._drifting else self.every
        alpha = None
        if self._since_key + 1 < every and self._gray is not None and self._gray.shape == gray.shape:
            alpha = self._between(rgb, gray)
        if alpha is None:
            alpha = self._keyframe(rgb)
            self._since_key, self._drifting = 0, False
        else:
            self._since_key += 1
        self._gray = gray
        self._alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        return alpha

    def _keyframe(self, rgb: np.ndarray) -> np.ndarray:
        """auto on the whole frame, noting whether it had to go neural."""
        self.keyframes += 1
        matte = self.keyframe.classic.analyse(rgb)
        self._neural = not self.keyframe.gates.classic_is_safe(matte)
        return self.keyframe.segment(rgb) if self._neural else matte.alpha

    def _between(self, rgb: np.ndarray, gray: np.ndarray) -> np.ndarray | None:
        """Alpha of a frame between keyframes, or None when it must be a keyframe."""
        carried = self._carry(gray)
        if carried is None:
            return None
        mask = carried > 0.5
        if not mask.any():  # nothing to look around: a keyframe, unless u2netp just found nothing either
            if self._neural:
                self.carried += 1
                self._drifting = True
                return np.zeros(rgb.shape[:2], np.float32)
            return None
        for factor in WINDOW_DENSITIES:
            window = self._window(rgb, mask, factor)
            if window is not None:
                self.windowed += 1
                return window
        if not self._neural:
            return None
        self.carried += 1
        self._drifting = True
        refined, noise = self.keyframe.classic.refine(rgb, mask)
        if noise <= self.gates.max_refine_noise:
            return refined
        h, w = rgb.shape[:2]
        return np.clip(cv2.resize(carried, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)

    def _carry(self, gray: np.ndarray) -> np.ndarray | None:
        """The last alpha moved onto this frame, or None when the flow does not explain the frame."""
        assert self._gray is not None and self._alpha is not None
        # Where each pixel of this frame was in the last. OpenCV allocates the output for flow=None; the
        # stub makes it required.
        flow = self._flow.calc(gray, self._gray, None)  # type: ignore[call-overload]
        ys, xs = np.mgrid[0 : gray.shape[0], 0 : gray.shape[1]].astype(np.float32)
        where = np.dstack([xs, ys]) + flow
        back = _remap(self._gray, where)
        if float(np.abs(back.astype(np.float32) - gray).mean()) > self.cut_threshold:
            return None
        return _remap(self._alpha, where)

    def _window(self, rgb: np.ndarray, mask: np.ndarray, factor: float) -> np.ndarray | None:
        """Classic in the window around `mask` (processing resolution) at `factor` times the whole
        frame's processing density, if it is safe there and agrees with `mask`."""
        h, w = rgb.shape[:2]
        sh, sw = mask.shape
        ys, xs = np.nonzero(mask)
        pad = self.margin * max(h, w)
        y0, y1 = max(0, int(ys.min() * h / sh - pad)), min(h, int((ys.max() + 1) * h / sh + pad))
        x0, x1 = max(0, int(xs.min() * w / sw - pad)), min(w, int((xs.max() + 1) * w / sw + pad))
        if min(y1 - y0, x1 - x0) < 16:  # a sliver at the frame's edge: too small to judge
            return None
        matte = self._classic(factor, y1 - y0, x1 - x0, h, w).analyse(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        if matte.collapsed or not self.gates.classic_is_safe(matte):
            return None
        found = np.zeros((h, w), bool)
        found[y0:y1, x0:x1] = matte.alpha > 0.5
        small = cv2.resize(found.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0.5
        if iou(small.astype(np.float32), mask.astype(np.float32)) < MIN_AGREEMENT:
            return None
        alpha = np.zeros((h, w), np.float32)
        alpha[y0:y1, x0:x1] = matte.alpha
        return alpha

    def _classic(self, factor: float, wh: int, ww: int, h: int, w: int) -> ClassicSegmenter:
        """Classic for a wh x ww window of an h x w frame, at `factor` times the frame's density."""
        long_side = max(32, round(factor * self.proc_long_side * max(wh, ww) / max(h, w)))
        return ClassicSegmenter(proc_long_side=long_side, band_radius=band_radius(h, w))  # the frame's band


class NeuralSegmenter:
    """u2netp on every frame, re-snapped by classic's edge band where the backdrop beside it is plain
    (the neural half of ``auto``, without its classic shortcut); an empty alpha when it found nothing."""

    name = "neural"

    def __init__(self, proc_long_side: int = 320, gates: Gates | None = None) -> None:
        self.gates = gates or Gates()
        self.auto = AutoSegmenter(classic=ClassicSegmenter(proc_long_side=proc_long_side), gates=self.gates)

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 alpha in [0, 1]."""
        soft = self.auto.neural.segment(rgb)
        mask = soft > 0.5
        if mask.mean() < self.gates.min_area:
            return np.zeros_like(soft)
        refined, noise = self.auto.classic.refine(rgb, mask)
        return refined if noise <= self.gates.max_refine_noise else soft


def _remap(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`image` sampled at `where` (HxWx2 float32 x, y), bilinear, the edge replicated outside."""
    # map2=None (map1 holds both x and y) is OpenCV's documented form; the stub makes map2 required.
    return cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]
