"""Optional engine over a user-supplied ONNX saliency model (``--engine onnx:<path>``).

For u2netp / ISNet / BiRefNet-style files the user already has: the mock never downloads weights.
Pre-processing is rembg's: resize to the model's input, ImageNet mean/std, NCHW float32; the output
is min-max normalised and resized back. Needs the ``onnx`` extra (onnxruntime, CPU).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class OnnxSegmenter:
    """Runs a single-input, single-output saliency model on the CPU."""

    def __init__(
        self,
        path: str | Path,
        size: int = 320,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        try:
            import onnxruntime
        except ImportError:  # pragma: no cover - exercised only without the extra installed
            raise RuntimeError("the onnx engine needs: pip install 'cutout-mock[onnx]'") from None
        if not Path(path).is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        dims = model_input.shape
        fixed = [d for d in dims[2:4] if isinstance(d, int)]
        self.size = fixed[0] if len(fixed) == 2 else size
        self._mean = np.float32(mean)
        self._std = np.float32(std)
        self.name = f"onnx:{path}"

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        x = ((x - self._mean) / self._std).transpose(2, 0, 1)[None]
        out = self._session.run(None, {self._input_name: np.ascontiguousarray(x, np.float32)})[0]
        prob = np.squeeze(out).astype(np.float32)
        lo, hi = float(prob.min()), float(prob.max())
        prob = (prob - lo) / (hi - lo) if hi > lo else np.zeros_like(prob)
        return np.clip(cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
