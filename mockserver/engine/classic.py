"""The model-free engine, "classic": the border-plate algorithm of research/segmentation.md §2: it needs
only numpy and OpenCV, no model file, and is deterministic, so the mock's outputs are real cut-outs
that tests can check pixel by pixel. It is built for product-style shots (plain, gradient, vignetted
or spotlit backgrounds); cluttered photo backgrounds are its documented limit.

Steps, at a processing resolution (long side 512 by default):
1. a quadratic "fallback plate" fitted robustly on the border strip;
2. background seeds: non-edge regions that touch the border, behind a hard edge barrier;
3. a non-parametric plate (normalised convolution of the seeds) and the seeds' residual covariance;
4. a mask from the Mahalanobis distance to the plate (hysteresis, morphology, small parts, holes);
   cast shadows (darker than the plate, same chromaticity, reachable from the border) are removed;
5. alpha at full resolution in a thin band around the mask edge, solved from the compositing
   equation I = aF + (1-a)B, which recovers anti-aliasing and fine strands.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["COLLAPSED_AREA", "PLAIN_NOISE", "ClassicMatte", "ClassicSegmenter"]

COLLAPSED_AREA = 0.0005  # fraction of the frame: under this, nothing was found
LEAKED_AREA = 0.03  # under this on a busy backdrop, the flood leaked into the subject
PLAIN_NOISE = 6.5  # RMS background residual, 8-bit levels: plain backdrops measure 2-6


@dataclass(frozen=True)
class _Coarse:
    """What the processing-resolution pass hands to the full-resolution alpha pass."""

    mask: np.ndarray  # bool, processing resolution
    plate: np.ndarray  # float32 HxWx3, processing resolution
    inv_cov: np.ndarray  # 3x3 whitening for the Mahalanobis distance
    shadow: np.ndarray  # bool, processing resolution: cast shadow, forced to background
    noise: float = 0.0  # RMS residual of the background seeds around the plate, 8-bit levels per channel
    border_foreign: float = 0.0  # fraction of the border strip that the quadratic plate cannot explain
    border_edges: float = 0.0  # fraction of the border strip on the edge barrier
    ambiguity: float = 0.0  # pixels between the hysteresis thresholds, per pixel of the mask


@dataclass(frozen=True)
class ClassicMatte:
    """Classic's alpha and the measures that say how far to trust it (the `auto` engine gates on them).

    ``area``: fraction of the frame in the mask. ``noise``: how busy the background is, as the RMS
    residual of the background around its plate in 8-bit levels (plain backdrops measure 2-6,
    textured cloth or a street 15 and more). ``border_foreign``: fraction of the frame's border
    strip unlike the border's own smooth fit, i.e. a subject touching the frame or clutter there.
    ``border_edges``: fraction of the border strip on an edge (plain backdrops under 1 %, clutter more).
    ``ambiguity``: pixels neither clearly plate nor clearly subject (between the hysteresis
    thresholds), per pixel of the mask: crisp subjects measure under 0.13, blurred or low-contrast
    ones more.
    """

    alpha: np.ndarray  # HxW float32 in [0, 1], full resolution
    area: float
    noise: float
    border_foreign: float
    border_edges: float
    ambiguity: float

    @property
    def collapsed(self) -> bool:
        """Nothing found, or a speck on a busy backdrop: the border flood has leaked into the subject
        (research/neural.md: the fruit-on-cloth photos came back 98 % transparent)."""
        return self.area < COLLAPSED_AREA or (self.area < LEAKED_AREA and self.noise > PLAIN_NOISE)


class ClassicSegmenter:
    """The default, model-free engine (see module docstring)."""

    name = "classic"

    def __init__(self, proc_long_side: int = 512, band_radius: int | None = None) -> None:
        """`band_radius`: the edge band's half-width in pixels; by default the image's short side / 128.
        A caller that runs classic on a window of a larger frame passes the frame's, so the edge is
        solved as it would be in the whole frame."""
        self.proc_long_side = proc_long_side
        self.band_radius = band_radius

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 alpha in [0, 1]; all zeros when the mask collapsed."""
        matte = self.analyse(rgb)
        return np.zeros_like(matte.alpha) if matte.collapsed else matte.alpha

    def analyse(self, rgb: np.ndarray) -> ClassicMatte:
        """The alpha with its trust measures (see ClassicMatte)."""
        _check_rgb(rgb)
        coarse = _coarse_mask(self._small(rgb).astype(np.float32))
        alpha = _band_alpha(rgb, coarse, self.band_radius)
        return ClassicMatte(
            alpha, float(coarse.mask.mean()), coarse.noise, coarse.border_foreign, coarse.border_edges, coarse.ambiguity
        )

    def refine(self, rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
        """Full-resolution edge alpha for another engine's binary `mask` (HxW bool, any size).

        The background plate is estimated from outside the mask, and alpha is solved in the edge
        band as for classic's own mask. Returns the alpha and the background's RMS residual around
        the plate next to the edge, in 8-bit levels: refining helps only where that is low (a plain
        or spotlit backdrop); on a busy one it eats edges.
        """
        _check_rgb(rgb)
        small = self._small(rgb).astype(np.float32)
        h, w = small.shape[:2]
        coarse_mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        seeds = ~cv2.dilate(coarse_mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        if seeds.mean() < 0.02:
            return mask.astype(np.float32), np.inf
        plate, inv_cov, _ = _plate_and_distance(small, seeds, _quadratic_plate(small))
        ring = cv2.dilate(coarse_mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & seeds
        noise = float(np.sqrt(np.trace(_residual_cov(small, plate, ring)) / 3)) if ring.any() else np.inf
        coarse = _Coarse(coarse_mask, plate, inv_cov, np.zeros_like(coarse_mask))
        return _band_alpha(rgb, coarse, self.band_radius), noise

    def _small(self, rgb: np.ndarray) -> np.ndarray:
        full_h, full_w = rgb.shape[:2]
        scale = min(1.0, self.proc_long_side / max(full_h, full_w))
        if scale >= 1.0:
            return rgb
        size = (max(8, round(full_w * scale)), max(8, round(full_h * scale)))
        return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    if min(rgb.shape[:2]) < 8:
        raise ValueError("image too small to segment")


# --- processing-resolution pass -------------------------------------------------------------


def _border_width(h: int, w: int) -> int:
    return max(2, round(0.015 * min(h, w)))


def _border_mask(h: int, w: int) -> np.ndarray:
    b = _border_width(h, w)
    m = np.zeros((h, w), bool)
    m[:b], m[-b:], m[:, :b], m[:, -b:] = True, True, True, True
    return m


def _quadratic_plate(img: np.ndarray) -> np.ndarray:
    """Per-channel quadratic in (x, y) fitted on the border by iterated robust least squares."""
    h, w = img.shape[:2]
    ys, xs = np.nonzero(_border_mask(h, w))
    ys, xs = ys[::3], xs[::3]

    def design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = x / max(w - 1, 1) * 2 - 1
        y = y / max(h - 1, 1) * 2 - 1
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)

    a = design(xs.astype(np.float32), ys.astype(np.float32))
    v = img[ys, xs]
    keep = np.ones(len(v), bool)
    coef = np.zeros((6, 3), np.float32)
    for _ in range(3):
        coef = np.linalg.lstsq(a[keep], v[keep], rcond=None)[0]
        res = np.linalg.norm(a @ coef - v, axis=1)
        med = np.median(res)
        mad = np.median(np.abs(res - med))
        keep = res <= med + 4 * 1.4826 * mad + 1e-3
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = design(gx.ravel(), gy.ravel())
    return (grid @ coef).reshape(h, w, 3).astype(np.float32)


def _edge_barrier(img: np.ndarray) -> np.ndarray:
    """Pixels on a real edge. A hard barrier keeps the border flood out of soft object edges."""
    blurred = cv2.GaussianBlur(img, (0, 0), 1.0)
    kernel = np.ones((3, 3), np.uint8)
    grad = _max3(cv2.morphologyEx(blurred, cv2.MORPH_GRADIENT, kernel))
    h, w = grad.shape
    thresh = max(4.0, 3.0 * float(np.median(grad[_border_mask(h, w)])) + 2.0)
    return grad > thresh


def _components_touching_border(region: np.ndarray) -> np.ndarray:
    _, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge_labels = edge_labels[edge_labels != 0]
    return np.isin(labels, edge_labels) & region


def _hysteresis(dist: np.ndarray, strong: float, weak: float) -> np.ndarray:
    weak_mask = (dist > weak).astype(np.uint8)
    _, labels = cv2.connectedComponents(weak_mask, connectivity=8)
    keep = np.unique(labels[dist > strong])
    keep = keep[keep != 0]
    return np.isin(labels, keep)


def _normalised_convolution(img: np.ndarray, weight: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Gaussian average: fills holes in `weight` with the colour of nearby weighted pixels."""
    wsum = cv2.GaussianBlur(weight, (0, 0), sigma)
    vsum = cv2.GaussianBlur(img * weight[..., None], (0, 0), sigma)
    return vsum / np.maximum(wsum, 1e-6)[..., None], wsum


def _plate_from_seeds(img: np.ndarray, seeds: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Smooth background estimate from the seed pixels, computed at about 96 px for speed."""
    h, w = seeds.shape
    f = min(1.0, 96.0 / max(h, w))
    size = (max(4, round(w * f)), max(4, round(h * f)))
    small_img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    small_w = cv2.resize(seeds.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small_fb = cv2.resize(fallback, size, interpolation=cv2.INTER_AREA)
    sigma = max(1.0, min(size) / 24.0)
    near, w_near = _normalised_convolution(small_img, small_w, sigma)
    far, w_far = _normalised_convolution(small_img, small_w, 4 * sigma)
    # Blend: near where seeds are dense, wider pass further away, quadratic fallback under objects.
    a_near = np.clip(w_near / 0.05, 0, 1)[..., None]
    a_far = np.clip(w_far / 0.02, 0, 1)[..., None]
    plate = a_near * near + (1 - a_near) * (a_far * far + (1 - a_far) * small_fb)
    return cv2.resize(plate, (w, h), interpolation=cv2.INTER_LINEAR)


def _dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel dot product over the last (colour) axis; numpy's axis reductions are slow here."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _max3(a: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2])


def _min3(a: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(a[..., 0], a[..., 1]), a[..., 2])


def _mahalanobis(diff: np.ndarray, inv_cov: np.ndarray) -> np.ndarray:
    flat = np.ascontiguousarray(diff, dtype=np.float32).reshape(-1, 1, 3)
    white = cv2.transform(flat, inv_cov).reshape(diff.shape)
    return np.sqrt(np.maximum(_dot3(diff, white), 0))


def _remove_small_parts(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = (areas >= 0.002 * h * w) | (areas >= 0.1 * areas.max())
    return np.isin(labels, np.flatnonzero(keep) + 1)


def _fill_small_holes(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    holes = ~mask & ~_components_touching_border(~mask)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < 0.01 * h * w) + 1
    return mask | np.isin(labels, small)


def _cast_shadow(img: np.ndarray, plate: np.ndarray, mask: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Soft cast shadow inside `mask`: darker than the plate in every channel alike, with a soft rim.

    A shadow on the floor scales the background colour by one factor below one in all channels.
    What tells it from a grey product on a white background (same hue, also darker) is its rim: where
    a shadow meets the background, the darkening ramps off over several pixels (a penumbra); where an
    object meets it, the change is a step. Candidate regions are cut apart by the edge barrier (so a
    shadow touching its object is judged alone) and kept when most of their background rim is soft.
    """
    ratio = img / np.maximum(plate, 1.0)
    mean = (ratio[..., 0] + ratio[..., 1] + ratio[..., 2]) / 3
    spread = _max3(ratio) - _min3(ratio)
    candidate = mask & (mean > 0.2) & (mean < 0.97) & (spread < 0.08 + 0.1 * (1 - mean))
    smooth = cv2.GaussianBlur(mean, (0, 0), 1.0)
    slope = cv2.morphologyEx(smooth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) / 2
    # Regions of smooth darkening; bridge cuts up to ~4 px (hair strands lying across a shadow),
    # while the wider crisp rim of an object keeps it apart from its own shadow.
    flat = (candidate & (slope < 0.08)).astype(np.uint8)
    bridged = cv2.morphologyEx(flat, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) & candidate
    n, labels = cv2.connectedComponents(bridged.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask)
    near_bg = cv2.dilate((~mask).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    # Judge each region at the mask's own boundary: spread its label over the few pixels of a
    # crisp edge band, which the region itself (low slope only) does not contain.
    reach = cv2.dilate(labels.astype(np.float32), np.ones((7, 7), np.uint8)).astype(np.int32)
    rim = candidate & near_bg & (reach > 0)
    rim_labels = reach[rim]
    total = np.bincount(rim_labels, minlength=n)
    soft = np.bincount(rim_labels, weights=(slope[rim] < 0.08).astype(np.float64), minlength=n)
    is_shadow = (total >= 8) & (soft >= 0.7 * np.maximum(total, 1))
    is_shadow[0] = False
    return is_shadow[labels]


def _quadratic_object(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """What stands out from the quadratic border plate: the fallback's view of the object."""
    h, w = img.shape[:2]
    d_quad = np.sqrt(_dot3(img - quad, img - quad))
    noise = 1.4826 * float(np.median(d_quad[_border_mask(h, w)])) + 1.0
    return _hysteresis(d_quad / noise, 9.0, 4.0)


def _plate_and_distance(
    img: np.ndarray, seeds: np.ndarray, quad: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plate from the seeds, the seeds' whitening matrix, and every pixel's distance to the plate."""
    plate = _plate_from_seeds(img, seeds, quad)
    inv_cov = np.linalg.inv(_residual_cov(img, plate, seeds)).astype(np.float32)
    return plate, inv_cov, _mahalanobis(img - plate, inv_cov)


def _residual_cov(img: np.ndarray, plate: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    res = (img - plate)[seeds]
    return (res.T @ res) / max(len(res), 1) + np.eye(3, dtype=np.float32)


def _coarse_mask(img: np.ndarray) -> _Coarse:
    quad = _quadratic_plate(img)
    edges = _edge_barrier(img)
    # Close short gaps in the barrier, or the flood leaks into a low-contrast part of the object.
    closed = cv2.dilate(edges.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    seeds = _components_touching_border(~closed.astype(bool))
    quad_object = _quadratic_object(img, quad)
    if seeds.mean() < 0.05:
        seeds = ~quad_object
    plate, inv_cov, dist = _plate_and_distance(img, seeds, quad)
    mask = _hysteresis(dist, 9.0, 4.0)
    # Leak guard: where the barrier has a long gap the flood enters the object, the plate takes its
    # colour and the mask collapses. The quadratic plate cannot be fooled that way; when the mask
    # has collapsed (under 3 % of the frame) and the quadratic plate's object is plausible (under
    # half the frame) and four times larger, re-seed from it. On spotlit backgrounds the quadratic
    # plate is the wrong one, but there the flood's mask has not collapsed, so it is kept.
    collapsed = mask.mean() < 0.03
    if collapsed and quad_object.mean() < 0.5 and mask.mean() < 0.25 * quad_object.mean():
        seeds = ~quad_object
        plate, inv_cov, dist = _plate_and_distance(img, seeds, quad)
        mask = _hysteresis(dist, 9.0, 4.0)
    shadow = _cast_shadow(img, plate, mask, edges)
    mask &= ~shadow
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, ellipse)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, ellipse).astype(bool)
    mask = _fill_small_holes(_remove_small_parts(mask))
    h, w = mask.shape
    noise = float(np.sqrt(np.trace(_residual_cov(img, plate, seeds & ~mask)) / 3))
    border = _border_mask(h, w)
    border_foreign, border_edges = float(quad_object[border].mean()), float(edges[border].mean())
    ambiguity = float(((dist > 4.0) & (dist < 9.0)).sum() / max(int(mask.sum()), 1))
    return _Coarse(mask, plate, inv_cov, shadow & ~mask, noise, border_foreign, border_edges, ambiguity)


# --- full-resolution alpha ------------------------------------------------------------------


def band_radius(h: int, w: int) -> int:
    """The edge band's default half-width for an h x w image, in pixels."""
    return max(1, round(min(h, w) / 128))


def _band_alpha(rgb: np.ndarray, coarse: _Coarse, radius: int | None = None) -> np.ndarray:
    """Binary mask everywhere; alpha solved from the compositing equation in the edge band."""
    h, w = rgb.shape[:2]
    up = (w, h)
    mask = cv2.resize(coarse.mask.astype(np.uint8), up, interpolation=cv2.INTER_LINEAR) > 0
    alpha = mask.astype(np.float32)
    if not mask.any():
        return alpha
    r = radius or band_radius(h, w)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    band = cv2.dilate(mask.astype(np.uint8), k).astype(bool) & ~cv2.erode(mask.astype(np.uint8), k).astype(bool)
    ys, xs = np.nonzero(band)
    if len(ys) == 0:
        return alpha

    img = rgb.astype(np.float32)
    plate = cv2.resize(coarse.plate, up, interpolation=cv2.INTER_LINEAR)
    fg = _foreground_colour(img, mask, r)
    pix, b, f = img[ys, xs], plate[ys, xs], fg[ys, xs]
    fb = f - b
    denom = _dot3(fb, fb)
    a = np.clip(_dot3(pix - b, fb) / np.maximum(denom, 1e-6), 0, 1)
    a = np.where(denom < 12.0**2, mask[ys, xs].astype(np.float32), a)
    d = _mahalanobis(pix - b, coarse.inv_cov)
    a = np.where(d < 2.5, 0.0, a)
    if coarse.shadow.any():
        shadow = cv2.resize(coarse.shadow.astype(np.uint8), up, interpolation=cv2.INTER_NEAREST)
        a = np.where(shadow[ys, xs].astype(bool) & ~mask[ys, xs], 0.0, a)
    alpha[ys, xs] = a
    return alpha


def _foreground_colour(img: np.ndarray, mask: np.ndarray, r: int) -> np.ndarray:
    """Colour of the object's interior extended outwards: F in the compositing equation."""
    h, w = mask.shape
    q = (max(4, w // 4), max(4, h // 4))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    small_img = cv2.resize(img, q, interpolation=cv2.INTER_AREA)
    small_in = cv2.resize(inner.astype(np.float32), q, interpolation=cv2.INTER_AREA)
    sigma = max(1.0, r / 2)
    near, w_near = _normalised_convolution(small_img, small_in, sigma)
    far, _ = _normalised_convolution(small_img, small_in, 6 * sigma)
    a = np.clip(w_near / 0.05, 0, 1)[..., None]
    fg = a * near + (1 - a) * far
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
