"""Foreground colour for the semi-transparent pixels of a cut-out, from any engine's alpha.

A pixel on the subject's edge is a mix, ``I = a F + (1 - a) B``, of the subject's colour F and the old
background's B. Keeping I as the colour of a semi-transparent output pixel keeps B too: a red subject
cut from a green backdrop gets a green rim, visible on any new background. So the output carries an
estimate of F there, with alpha left as it is (straight).

The estimate is the "blur fusion" of Forte & Pitié, *Approximate Fast Foreground Colour Estimation*
(ICIP 2021; reference code github.com/Photoroom/fast-foreground-estimation): the local means of the
foreground and background colours, weighted by alpha and 1 - alpha under a box filter, give F and B,
and F is corrected so that ``a F + (1 - a) B`` explains the pixel; a second pass with a small box
(on the first pass's F and B) sharpens it. Box filters cost the same at any radius (OpenCV's running
sums), and the per-pixel arithmetic runs only where it matters: in the band ``0 < alpha < 1`` (alpha
quantised to 8 bits, as the PNG stores it) and, for the first pass, the few pixels around it that
the second pass reads. Pixels outside the band keep the input colour: where alpha is 1, F is I.

pymatting's ``estimate_foreground_ml`` (the multilevel method the paper compares with) was not used:
it needs numba (LLVM) at run time for a quality difference the paper measures as small.

``cut_out`` joins an engine's alpha with the input's own (DESIGN §6): an input that is already a
cut-out (at least ``INPUT_MATTE`` of its pixels mostly transparent, alpha < 0.5, and its visible part
not a rectangle) keeps its alpha as the matte and its own colours, and no engine runs, so a logo on
transparency comes back as it was and is never refused; any other input (opaque, a little
transparency such as rounded corners, or a photo pasted on a transparent canvas) is segmented
flattened on white, and the matte is ``min(engine alpha, input alpha)``: what is
transparent in the input stays transparent. Each pixel's colour comes from the alpha that won there:
the input's own colour where the input's alpha is the lower, the estimated foreground elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np

from mockserver.engine.errors import NoForeground
from mockserver.engine.pictures import Picture
from mockserver.engine.segment import Segmenter, segment

__all__ = [
    "FIRST_RADIUS",
    "INPUT_MATTE",
    "PHOTO_FILL",
    "SECOND_RADIUS",
    "cut_out",
    "estimate_foreground",
    "is_cutout",
    "matte_band",
]

INPUT_MATTE = 0.05  # fraction of mostly transparent pixels from which an input is already a cut-out
PHOTO_FILL = 0.97  # a visible part filling this much of its bounding box is a photo, not a cut-out

FIRST_RADIUS = 45  # box half-width of the first pass (the paper's 90-pixel box)
SECOND_RADIUS = 3  # box half-width of the second pass (the paper's 6-pixel box)
_EPS = 1e-5


def matte_band(alpha: np.ndarray) -> np.ndarray:
    """Pixels whose 8-bit alpha is neither 0 nor 255 (bool HxW)."""
    return (alpha >= 0.5 / 255) & (alpha < 254.5 / 255)


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.blur(image, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT_101)


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 colour for a straight-alpha output: the estimated foreground F in the band
    ``0 < alpha < 1``, the input colour elsewhere. `rgb` is HxWx3 uint8, `alpha` HxW float in [0, 1]."""
    a = np.clip(alpha, 0, 1).astype(np.float32, copy=False)
    band = matte_band(a)
    rows, cols = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
    if len(rows) == 0:
        return rgb
    # Work inside the band's bounding box, grown by what the two box filters read.
    grow = FIRST_RADIUS + 2 * SECOND_RADIUS + 1
    h, w = a.shape
    y0, y1 = max(0, int(rows[0]) - grow), min(h, int(rows[-1]) + grow + 1)
    x0, x1 = max(0, int(cols[0]) - grow), min(w, int(cols[-1]) + grow + 1)
    roi_band = band[y0:y1, x0:x1]
    colour = _blur_fusion(rgb[y0:y1, x0:x1], np.ascontiguousarray(a[y0:y1, x0:x1]), roi_band)
    out = rgb.copy()
    out[y0:y1, x0:x1][roi_band] = colour
    return out


def _blur_fusion(rgb: np.ndarray, alpha: np.ndarray, band: np.ndarray) -> np.ndarray:
    """F (N x 3 uint8) at the band's N pixels, in the order of ``rgb[band]``."""
    image = rgb.astype(np.float32) * np.float32(1 / 255)
    # Pass 1 (F = B = I) is needed at the band and at the pixels the second pass's box reads.
    near = cv2.dilate(band.view(np.uint8), np.ones((2 * SECOND_RADIUS + 1,) * 2, np.uint8)).view(bool)
    # Gathering the pixels costs more than it saves when the band is most of the box (soft mattes).
    dense = near.mean() > 0.3

    def pick(x: np.ndarray) -> np.ndarray:
        return x if dense else x[near]

    fa = image * alpha[..., None]
    mean_a = pick(_box(alpha, FIRST_RADIUS)[..., None])
    mean_fa = pick(_box(fa, FIRST_RADIUS))
    a_near, i_near = pick(alpha[..., None]), pick(image)
    f_mean = mean_fa / (mean_a + _EPS)
    b_mean = (pick(_box(image, FIRST_RADIUS)) - mean_fa) / (1 - mean_a + _EPS)  # box(I (1-a)) = box(I) - box(I a)
    f1 = _fuse(i_near, a_near, f_mean, b_mean)
    # Pass 2 on pass 1's F and B. Where alpha is 1, F is I; where it is 0, F does not count (F a = 0).
    b1a = np.zeros_like(image)
    if dense:
        fa, b1a = f1 * a_near, b_mean * (1 - a_near)
    else:
        fa[near], b1a[near] = f1 * a_near, b_mean * (1 - a_near)
    mean_a = _box(alpha, SECOND_RADIUS)[band][:, None]
    f_mean = _box(fa, SECOND_RADIUS)[band] / (mean_a + _EPS)
    b_mean = _box(b1a, SECOND_RADIUS)[band] / (1 - mean_a + _EPS)
    f2 = _fuse(image[band], alpha[band][:, None], f_mean, b_mean)
    return np.rint(f2 * 255).astype(np.uint8)


def _fuse(image: np.ndarray, alpha: np.ndarray, f_mean: np.ndarray, b_mean: np.ndarray) -> np.ndarray:
    """F = F_mean + a (I - a F_mean - (1 - a) B_mean), clipped (the paper's fusion step)."""
    return np.clip(f_mean + alpha * (image - alpha * f_mean - (1 - alpha) * b_mean), 0, 1)


def is_cutout(picture: Picture) -> bool:
    """Whether the input is already a cut-out: ``INPUT_MATTE`` or more of it mostly transparent, and
    its visible part not a rectangle (a photo pasted on a transparent canvas, or with rounded
    corners, fills ``PHOTO_FILL`` of its box and is segmented like any photo)."""
    if picture.alpha is None:
        return False
    visible = picture.alpha >= 0.5
    if float((~visible).mean()) < INPUT_MATTE:
        return False
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    if len(rows) == 0:
        return True
    box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    return float(visible.sum()) / float(box) < PHOTO_FILL


def cut_out(
    picture: Picture, engine: Segmenter | None = None, *, require_subject: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(colour HxWx3 uint8, straight alpha HxW float32) of the subject of `picture` (module docstring).

    The colour is final (foreground already estimated): composite it with ``foreground=False``. With
    `require_subject`, no subject raises NoForeground (Pixelcut's ``unknown_foreground``): the engine's
    collapsed mask, or an input cut-out with nothing visible (any visible part is its subject).
    """
    if is_cutout(picture):
        assert picture.alpha is not None
        if require_subject and not (picture.alpha >= 0.5).any():
            raise NoForeground("The foreground subject of the image could not be detected")
        return picture.rgb, picture.alpha
    flat = picture.flattened()
    alpha = segment(flat, engine, require_subject=require_subject)
    colour = estimate_foreground(flat, alpha)
    if picture.alpha is not None:
        own = picture.alpha < alpha
        colour = np.where(own[..., None], picture.rgb, colour)
        alpha = np.where(own, picture.alpha, alpha)
    return colour, alpha
