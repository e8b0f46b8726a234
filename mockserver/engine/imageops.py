"""The other PixelAPI image operations, as real (classical) image processing.

Each returns pixels a client can decode and check: upscale is a true 4x resample, remove-object
really inpaints the region, replace-background cuts the subject out and puts it on a generated scene,
restore-face sharpens and denoises detected faces, try-on composites the garment on the torso.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from mockserver.engine.compose import over_image
from mockserver.engine.errors import InvalidOption, MediaError, ResolutionTooHigh
from mockserver.engine.generate import prompt_rng, scene
from mockserver.engine.segment import Segmenter, segment

UPSCALE_MAX_INPUT_SIDE = 2048  # a 4x output of 8192 px is the most the mock will render


def upscale4x(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) > UPSCALE_MAX_INPUT_SIDE:
        raise ResolutionTooHigh(f"upscale takes images up to {UPSCALE_MAX_INPUT_SIDE} px on the long side")
    big = cv2.resize(rgb, (w * 4, h * 4), interpolation=cv2.INTER_LANCZOS4)
    soft = cv2.GaussianBlur(big, (0, 0), 2.0)
    return cv2.addWeighted(big, 1.4, soft, -0.4, 0)


def _face_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes: OpenCV's Haar cascade where this OpenCV has it (4.x), else skin-tone blobs.

    OpenCV 5 moved CascadeClassifier out of the main module; the fallback finds face-shaped regions
    of skin chroma in YCrCb (Cr 133-173, Cb 77-127), which needs no model file either.
    """
    cascade_type = getattr(cv2, "CascadeClassifier", None)
    if cascade_type is not None:
        from cv2.data import haarcascades  # the pip wheels' cascade files (not in cv2's stub)

        cascade = cascade_type(haarcascades + "haarcascade_frontalface_default.xml")
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    skin = cv2.inRange(ycrcb, (0, 133, 77), (255, 173, 127))
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(skin, connectivity=8)
    min_area = 0.005 * rgb.shape[0] * rgb.shape[1]
    boxes = []
    for x, y, w, h, area in stats[1:]:
        if area >= min_area and 0.5 <= w / max(h, 1) <= 1.5 and area >= 0.4 * w * h:
            boxes.append((int(x), int(y), int(w), int(h)))
    return boxes


def restore_face(rgb: np.ndarray) -> np.ndarray:
    """Denoise and sharpen the faces found; without a detected face, the whole image gently."""
    denoised = cv2.bilateralFilter(rgb, 7, 40, 7)
    sharp = cv2.addWeighted(denoised, 1.6, cv2.GaussianBlur(denoised, (0, 0), 2.0), -0.6, 0)
    boxes = _face_boxes(rgb)
    if not boxes:
        return cv2.addWeighted(rgb, 0.5, sharp, 0.5, 0)
    weight: np.ndarray = np.zeros(rgb.shape[:2], np.float32)
    for x, y, w, h in boxes:
        cv2.ellipse(weight, (x + w // 2, y + h // 2), (int(w * 0.6), int(h * 0.75)), 0, 0, 360, 1.0, -1)
    weight = cv2.GaussianBlur(weight, (0, 0), max(2.0, min(rgb.shape[:2]) / 100))[..., None]
    return np.rint(sharp * weight + rgb * (1 - weight)).astype(np.uint8)


_PLACES = {
    "top left": (0.0, 0.0),
    "top right": (0.7, 0.0),
    "bottom left": (0.0, 0.7),
    "bottom right": (0.7, 0.7),
    "top": (0.35, 0.0),
    "bottom": (0.35, 0.7),
    "left": (0.0, 0.35),
    "right": (0.7, 0.35),
    "center": (0.35, 0.35),
    "centre": (0.35, 0.35),
    "middle": (0.35, 0.35),
}


def region_from_prompt(prompt: str, height: int, width: int) -> np.ndarray:
    """A deterministic mask for "remove the watermark in the bottom right corner" style prompts.

    Position words pick the region (watermarks and text default to the bottom-right corner);
    any other prompt picks a stable region from its hash.
    """
    text = prompt.lower()
    place = next((xy for words, xy in _PLACES.items() if re.search(rf"\b{words}\b", text)), None)
    if place is None and re.search(r"watermark|logo|text|caption|signature", text):
        place = _PLACES["bottom right"]
    if place is None:
        rng = prompt_rng(prompt)
        place = (float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.1, 0.6)))
    mask = np.zeros((height, width), np.uint8)
    x0, y0 = int(place[0] * width), int(place[1] * height)
    cv2.rectangle(mask, (x0, y0), (x0 + int(0.3 * width) - 1, y0 + int(0.3 * height) - 1), 255, -1)
    return mask


def remove_object(rgb: np.ndarray, mask: np.ndarray | None = None, prompt: str | None = None) -> np.ndarray:
    """Inpaint the white part of `mask` (resized to the image), or the region a prompt names."""
    h, w = rgb.shape[:2]
    if mask is None:
        if not prompt:
            raise InvalidOption("provide a mask or a prompt")
        region = region_from_prompt(prompt, h, w)
    else:
        grey = mask if mask.ndim == 2 else cv2.cvtColor(mask, cv2.COLOR_RGB2GRAY)
        region = (cv2.resize(grey, (w, h), interpolation=cv2.INTER_NEAREST) > 127).astype(np.uint8) * 255
    # Inpaint at a bounded size: Telea's cost grows with the hole, not only the image.
    scale = min(1.0, 1024 / max(h, w))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    small_region = cv2.resize(region, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(np.ascontiguousarray(small), small_region, 5, cv2.INPAINT_TELEA)
    if scale < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC)
    keep = (region > 0)[..., None]
    return np.where(keep, filled, rgb)


def replace_background(
    rgb: np.ndarray, prompt: str, seed: int | None = None, engine: Segmenter | None = None
) -> np.ndarray:
    h, w = rgb.shape[:2]
    alpha = segment(rgb, engine, require_subject=True)
    return over_image(rgb, alpha, scene(prompt, w, h, seed))


TRYON_CATEGORIES = {"upperbody": (0.20, 0.58), "lowerbody": (0.50, 0.97), "dress": (0.20, 0.92)}


class TryOnError(MediaError):
    """A try-on refusal; ``code`` is PixelAPI's documented error string."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def virtual_tryon(
    person: np.ndarray, garment: np.ndarray, category: str, engine: Segmenter | None = None
) -> np.ndarray:
    """The garment, cut out of its photo, fitted to the person's torso rows and clipped to the body."""
    if category not in TRYON_CATEGORIES:
        raise TryOnError("invalid_category", "category must be one of: upperbody, lowerbody, dress")
    ph, pw = person.shape[:2]
    if min(ph, pw) < 100:
        raise TryOnError("image_too_small", f"Person image is too small (minimum 100px), got {pw}x{ph}px")
    if pw > ph:
        raise TryOnError("wrong_aspect_ratio", "Person image is wider than tall; use a portrait photo")
    body = segment(person, engine) > 0.5
    rows = np.flatnonzero(body.any(axis=1))
    if len(rows) < ph * 0.3:
        raise TryOnError("body_segmentation_failed", "Could not identify the clothing region")
    top, bottom = rows[0], rows[-1]
    start, end = TRYON_CATEGORIES[category]
    y0, y1 = top + int(start * (bottom - top)), top + int(end * (bottom - top))
    cols = np.flatnonzero(body[y0:y1].any(axis=0))
    if len(cols) == 0 or y1 - y0 < 8:
        raise TryOnError("body_segmentation_failed", "Could not identify the clothing region")
    x0, x1 = cols[0], cols[-1] + 1
    g_alpha = segment(garment, engine)
    ys, xs = np.nonzero(g_alpha > 0.5)
    if len(ys) == 0:
        raise TryOnError("body_segmentation_failed", "Could not find the garment in its image")
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    size = (int(x1 - x0), int(y1 - y0))
    fitted = cv2.resize(garment[crop], size, interpolation=cv2.INTER_AREA)
    fitted_a = cv2.resize(g_alpha[crop], size, interpolation=cv2.INTER_LINEAR)
    fitted_a *= body[y0:y1, x0:x1]
    out = person.copy()
    out[y0:y1, x0:x1] = over_image(fitted, fitted_a, person[y0:y1, x0:x1])
    return out
