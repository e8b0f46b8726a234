"""Seeded test media with exact ground truth (research/segmentation.md §3).

Nothing large is committed to the repo: tests, benchmarks and the CLI make their media here. An image
is an object with anti-aliased (4x supersampled) edges, optional hair strands and feathering, over one
of seven background kinds, composited as I = aF + (1-a)B plus sensor noise. The "shadow" kind puts a
soft cast shadow on the floor under the object: it is background (alpha 0), as the real services
treat it. Clips move the object along a Lissajous path with rotation and an illumination drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

BACKGROUNDS = ("solid", "gradient", "vignette", "lowtex", "spotlight", "clutter", "shadow")
PLAIN = ("solid", "gradient", "vignette", "lowtex")
SS = 4  # supersampling factor for exact anti-aliased coverage


@dataclass
class Sample:
    """One synthetic image: the composite, its exact alpha, and what was drawn."""

    rgb: np.ndarray  # HxWx3 uint8
    alpha: np.ndarray  # HxW float32 ground truth
    meta: dict[str, object] = field(default_factory=dict)
    shadow: np.ndarray | None = None  # HxW float32 shadow strength (background), for "shadow"


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Band-limited noise in [0, 1]: random values on a coarse grid, bicubic upsampled."""
    gh, gw = max(2, h * cells // max(h, w)), max(2, w * cells // max(h, w))
    grid = rng.random((gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(up.min()), float(up.max())
    return (up - lo) / max(hi - lo, 1e-6)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(30, 225, 3).astype(np.float32)


def _shape_polygon(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    """Outline of the object at SS scale, centred near the image centre."""
    radius = rng.uniform(0.22, 0.38) * min(h, w) * SS
    cx = w * SS / 2 + rng.uniform(-0.08, 0.08) * w * SS
    cy = h * SS / 2 + rng.uniform(-0.08, 0.08) * h * SS
    theta = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    kind = str(rng.choice(["blob", "ellipse", "star"]))
    if kind == "blob":
        r = np.ones_like(theta)
        for k in range(2, 6):
            r += rng.uniform(0, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        xs, ys = r * np.cos(theta), r * np.sin(theta)
    elif kind == "ellipse":
        xs, ys = np.cos(theta), rng.uniform(0.55, 1.0) * np.sin(theta)
    else:
        points = int(rng.integers(4, 9))
        t = np.linspace(0, 2 * np.pi, 2 * points, endpoint=False)
        r = np.where(np.arange(2 * points) % 2 == 0, 1.0, rng.uniform(0.45, 0.7))
        xs, ys = r * np.cos(t), r * np.sin(t)
    poly = np.stack([cx + radius * xs, cy + radius * ys], axis=1)
    return poly.astype(np.int32), kind


def _render_alpha(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, object]]:
    big = np.zeros((h * SS, w * SS), np.uint8)
    poly, kind = _shape_polygon(rng, h, w)
    cv2.fillPoly(big, [poly], 255, lineType=cv2.LINE_8)
    hairy = bool(rng.random() < 0.35)
    if hairy:
        for _ in range(int(rng.integers(60, 161))):
            x0, y0 = poly[int(rng.integers(len(poly)))]
            cx, cy = poly[:, 0].mean(), poly[:, 1].mean()
            out = np.array([x0 - cx, y0 - cy], np.float32)
            out /= max(float(np.linalg.norm(out)), 1.0)
            length = rng.uniform(0.04, 0.12) * min(h, w) * SS
            bend = rng.uniform(-0.4, 0.4)
            pts = []
            for s in np.linspace(0, 1, 8):
                d = out + bend * s * np.array([-out[1], out[0]])
                pts.append([x0 + d[0] * length * s, y0 + d[1] * length * s])
            cv2.polylines(big, [np.array(pts, np.int32)], False, 255, int(rng.integers(1, 3)))
    alpha: np.ndarray = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    feather = float(rng.choice([0.0, 0.0, 0.7, 1.5]))
    if feather:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
    return alpha, {"shape": kind, "hairy": hairy, "feather": feather}


def _foreground(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    c1, c2 = _random_colour(rng), _random_colour(rng)
    kind = str(rng.choice(["flat", "twotone", "stripes", "fabric"]))
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    if kind == "flat":
        shade = 0.85 + 0.3 * (1 - yy / h)[..., None] * 0.5
        img = c1 * shade
    elif kind == "twotone":
        t = _smooth_noise(rng, h, w, 6)[..., None]
        img = c1 * t + c2 * (1 - t)
    elif kind == "stripes":
        period = rng.uniform(8, 24)
        t = (np.sin(2 * np.pi * yy / period) > 0).astype(np.float32)[..., None]
        img = c1 * t + c2 * (1 - t)
    else:
        t = (rng.random((h, w)) * 0.5 + 0.5).astype(np.float32)[..., None]
        img = c1 * t
    return np.clip(img, 0, 255).astype(np.float32), kind


def _background(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    base = rng.uniform(60, 235, 3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = xx / w - 0.5, yy / h - 0.5
    if kind in ("solid", "shadow"):
        return np.broadcast_to(base, (h, w, 3)).copy()
    if kind == "gradient":
        other = np.clip(base + rng.uniform(-60, 60, 3), 0, 255)
        ang = rng.uniform(0, 2 * np.pi)
        t = np.clip(0.5 + nx * np.cos(ang) + ny * np.sin(ang), 0, 1)[..., None]
        return base * (1 - t) + other * t
    if kind == "vignette":
        k = rng.uniform(0.3, 0.9)
        return base * (1 - k * 2 * (nx**2 + ny**2))[..., None]
    if kind == "lowtex":
        amp = rng.uniform(8, 17)
        return base + amp * (2 * _smooth_noise(rng, h, w, 40)[..., None] - 1)
    if kind == "spotlight":
        dark = rng.uniform(20, 70, 3).astype(np.float32)
        sweep = dark * (1 + 0.3 * ny)[..., None]
        sx, sy = rng.uniform(-0.15, 0.15, 2)
        spot = np.exp(-((nx - sx) ** 2 + (ny - sy) ** 2) / (2 * rng.uniform(0.15, 0.3) ** 2))
        return sweep + rng.uniform(60, 110) * spot[..., None]
    if kind == "clutter":
        img = np.zeros((h, w, 3), np.float32)
        for octave in range(4):
            weight = 0.5**octave
            for c in range(3):
                img[..., c] += weight * _smooth_noise(rng, h, w, 4 * 2**octave) * 255
        img /= 1.875
        for _ in range(12):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(w // 10, w // 3)), y0 + int(rng.integers(h // 10, h // 3))
            cv2.rectangle(img, (x0, y0), (x1, y1), _random_colour(rng).tolist(), -1)
        return img
    raise ValueError(f"unknown background kind {kind!r}")


def _cast_shadow(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """A soft elliptical shadow on the floor at the object's base, partly under it."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.5)
    bottom, left, right = int(ys.max()), int(xs.min()), int(xs.max())
    shadow: np.ndarray = np.zeros((h, w), np.float32)
    centre = ((left + right) // 2 + int(rng.uniform(0.0, 0.25) * (right - left)), bottom)
    axes = (max(4, int((right - left) * rng.uniform(0.5, 0.7))), max(3, int(h * rng.uniform(0.04, 0.07))))
    cv2.ellipse(shadow, centre, axes, 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(2.0, min(h, w) * 0.02))
    return shadow * rng.uniform(0.35, 0.6)


def _ensure_contrast(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Push every part of the object >= 40 (RGB L2) away from the mean background colour.

    The "plain product shot" definition of the benchmark: a part of the object in the background's
    own colour is the documented low-contrast limit (white on white), not something the gates test.
    """
    outside = alpha < 0.01
    b = bg[outside].mean(axis=0)
    diff = fg - b
    dist = np.linalg.norm(diff, axis=2, keepdims=True)
    mean_dir = diff[alpha > 0.5].mean(axis=0)
    if float(np.linalg.norm(mean_dir)) < 1e-3:
        mean_dir = np.array([1.0, 1.0, 1.0])
    mean_dir = mean_dir / np.linalg.norm(mean_dir)
    if (b + mean_dir * 60).max() > 255 or (b + mean_dir * 60).min() < 0:
        mean_dir = -mean_dir
    push = np.clip(45 - dist, 0, None)
    return np.clip(fg + push * mean_dir, 0, 255)


def make_image(seed: int, size: tuple[int, int] = (512, 512), background: str | None = None) -> Sample:
    """The seeded sample number `seed`; the background kind cycles through BACKGROUNDS by default."""
    h, w = size
    rng = np.random.default_rng(seed)
    kind = background or BACKGROUNDS[seed % len(BACKGROUNDS)]
    alpha, meta = _render_alpha(rng, h, w)
    fg, texture = _foreground(rng, h, w)
    bg = _background(rng, kind, h, w)
    shadow = None
    if kind == "shadow":
        shadow = _cast_shadow(rng, alpha)
        bg = bg * (1 - shadow)[..., None]
    fg = _ensure_contrast(fg, bg, alpha)
    a = alpha[..., None]
    img = a * fg + (1 - a) * bg + rng.normal(0, rng.uniform(1, 3), (h, w, 3))
    meta.update(background=kind, texture=texture, seed=seed)
    return Sample(np.clip(np.rint(img), 0, 255).astype(np.uint8), alpha, meta, shadow)


def fruit_on_cloth(seed: int, size: tuple[int, int] = (384, 384)) -> Sample:
    """Two shaded fruits on a coarse, grainy cloth: the kind of product photo on which classic's border
    flood leaks into the subject (research/neural.md), with exact anti-aliased ground truth."""
    h, w = size
    rng = np.random.default_rng(seed)
    weave = cv2.resize(rng.normal(0, 1, (h // 4, w // 4, 3)), (w, h), interpolation=cv2.INTER_NEAREST)
    img = 150 + 35 * weave + rng.normal(0, 12, (h, w, 3))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    alpha = np.zeros((h, w), np.float32)
    radius = 0.16 * min(h, w)
    for cx, cy, colour in ((0.39, 0.52, (200, 40, 30)), (0.65, 0.55, (230, 140, 20))):
        cx, cy = cx * w + rng.uniform(-4, 4), cy * h + rng.uniform(-4, 4)
        a = np.clip(radius + 0.5 - np.hypot(xs - cx, ys - cy), 0, 1)[..., None]
        shade = 0.75 + 0.25 * np.clip((cy - ys) / radius, -1, 1)[..., None]
        img = a * np.array(colour, np.float32) * shade + (1 - a) * img
        alpha = np.maximum(alpha, a[..., 0])
    img += rng.normal(0, 8, (h, w, 3))
    return Sample(np.clip(np.rint(img), 0, 255).astype(np.uint8), alpha, {"background": "cloth", "seed": seed})


@dataclass
class Clip:
    """A moving-object scene; iterate ``frames()`` for (rgb, alpha) pairs, nothing held in memory."""

    seed: int
    size: tuple[int, int] = (180, 320)
    n_frames: int = 60
    fps: int = 30
    background: str = "gradient"
    still: bool = False

    def frames(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        h, w = self.size
        rng = np.random.default_rng(self.seed)
        obj_alpha, _ = _render_alpha(rng, h, w)
        obj_fg, _ = _foreground(rng, h, w)
        bg = _background(rng, self.background, h, w)
        obj_fg = _ensure_contrast(obj_fg, bg, obj_alpha)
        # Shrink the object so that it stays inside the frame while it moves.
        small = cv2.getRotationMatrix2D((w / 2, h / 2), 0, 0.6)
        obj_alpha = cv2.warpAffine(obj_alpha, small, (w, h))
        obj_fg = cv2.warpAffine(obj_fg, small, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noise = np.random.default_rng(self.seed + 1)
        for i in range(self.n_frames):
            t = 0.0 if self.still else i / max(self.n_frames - 1, 1)
            dx, dy = 0.18 * w * np.sin(2 * np.pi * t), 0.15 * h * np.sin(4 * np.pi * t)
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 40 * np.sin(2 * np.pi * t), 1.0)
            m[:, 2] += (dx, dy)
            a = cv2.warpAffine(obj_alpha, m, (w, h))
            f = cv2.warpAffine(obj_fg, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
            light = 1 + 0.05 * np.sin(2 * np.pi * t * 1.5)
            img = (a[..., None] * f + (1 - a[..., None]) * bg) * light
            img += noise.normal(0, 2.0, img.shape)
            yield np.clip(np.rint(img), 0, 255).astype(np.uint8), a

    def write(self, path: str | Path, fmt: str = "mp4_h264") -> Path:
        """Encode the clip as input media in any output format (codec artefacts included)."""
        from mockserver.engine.codecs import FORMATS, VideoWriter

        path = Path(path)
        h, w = self.size
        with VideoWriter(path, FORMATS[fmt], w, h, Fraction(self.fps)) as writer:
            for rgb, _ in self.frames():
                writer.write(rgb)
        return path
