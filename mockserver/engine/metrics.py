"""Matte quality metrics, shared by the quality-gate tests and `make bench` (research §3)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of alpha > 0.5."""
    p, t = pred > 0.5, truth > 0.5
    union = int((p | t).sum())
    return float((p & t).sum() / union) if union else 1.0


def edge_band(truth: np.ndarray) -> np.ndarray:
    """Pixels of partial coverage in the ground truth, dilated by 2 px: where matting is hard."""
    soft = ((truth > 0.01) & (truth < 0.99)).astype(np.uint8)
    return cv2.dilate(soft, np.ones((5, 5), np.uint8)).astype(bool)


@dataclass(frozen=True)
class MatteScore:
    iou: float
    mae: float
    edge_mae: float

    @classmethod
    def of(cls, pred: np.ndarray, truth: np.ndarray) -> MatteScore:
        err = np.abs(pred.astype(np.float32) - truth.astype(np.float32))
        band = edge_band(truth)
        return cls(iou(pred, truth), float(err.mean()), float(err[band].mean()) if band.any() else 0.0)
