"""From an image and its alpha to the bytes a client receives.

Straight-alpha RGBA PNG whose edge pixels carry the foreground colour (engine/matting.py),
compositing over a colour (a `Background`) or another image, a shadow cast from the alpha by a
virtual light, and a crop to the subject with margins. Everything comes as plain values: which
request field names a background, a shadow or a margin, and in what words, is the providers' (a
provider's options are parsed in ``providers/``). Shared by the image endpoints and the video loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from mockserver.engine.errors import InvalidOption
from mockserver.engine.matting import estimate_foreground


@dataclass(frozen=True)
class Background:
    """What goes behind the subject: ``None`` colour means transparent."""

    colour: tuple[int, int, int] | None = None

    @property
    def transparent(self) -> bool:
        return self.colour is None


TRANSPARENT = Background()


def composite(rgb: np.ndarray, alpha: np.ndarray, background: Background, *, foreground: bool = True) -> np.ndarray:
    """HxWx4 uint8: straight alpha when transparent, else opaque over the colour.

    With `foreground` (the default) the semi-transparent pixels carry the estimated foreground colour
    F (engine/matting.py), not the input's mix with its old background: transparent outputs store F,
    opaque ones ``F a + C (1 - a)``, so no rim of the old background's colour is left. Pass False when
    `rgb` is already the foreground colour (``matting.cut_out``) or to save its cost: at 720p about
    4 ms for a classic matte (thin band), 30 ms for a soft u2netp one; 2.5 and 10 ms at 512².
    """
    a = np.clip(alpha, 0, 1)
    colour = estimate_foreground(rgb, a) if foreground else rgb
    if background.transparent:
        return np.dstack([colour, np.rint(a * 255).astype(np.uint8)])
    assert background.colour is not None  # not transparent
    a3 = a[..., None]
    out = colour.astype(np.float32) * a3 + np.array(background.colour, np.float32) * (1 - a3)
    return np.dstack([np.rint(out).astype(np.uint8), np.full(alpha.shape, 255, np.uint8)])


def over_image(rgb: np.ndarray, alpha: np.ndarray, scene: np.ndarray, *, foreground: bool = True) -> np.ndarray:
    """The subject over another image of the same size (replace-background, try-on), with its
    estimated foreground colour at the edge (as `composite`) unless `foreground` is False."""
    a = np.clip(alpha, 0, 1)
    colour = estimate_foreground(rgb, a) if foreground else rgb
    a3 = a[..., None]
    return np.rint(colour * a3 + scene * (1 - a3)).astype(np.uint8)


def encode_png(pixels: np.ndarray, level: int = 1) -> bytes:
    """PNG of an RGB or RGBA uint8 image. Level 1: encoding costs more than segmenting (§4)."""
    conversion = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(".png", cv2.cvtColor(pixels, conversion), [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid arrays, which we never pass
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


# --- shadow, crop and margins ---------------------------------------------------------------


@dataclass(frozen=True)
class Shadow:
    """A cast shadow: its opacity, the light's size and its position (x, y relative to the image
    centre, -1..1; z its height, 0..2)."""

    opacity: float = 0.5
    size: float = 0.3
    x: float = -0.3
    y: float = -0.6
    z: float = 0.7


def cast_shadow(alpha: np.ndarray, shadow: Shadow) -> np.ndarray:
    """Shadow strength in [0, opacity] cast on the floor by the subject, from the virtual light.

    The silhouette is flattened onto the floor line under the subject, pushed away from the light
    (further the lower the light), blurred by the light's size and by distance, plus a tight contact
    shadow along the base. Light x/y are relative to the image centre (-1..1), z its height (0..2).
    """
    h, w = alpha.shape
    ys = np.nonzero(alpha > 0.5)[0]
    if len(ys) == 0:
        return np.zeros_like(alpha)
    floor = float(ys.max())
    height = max(float(ys.max() - ys.min()), 1.0)
    elevation = max(shadow.z, 0.05)
    squash = float(np.clip(0.15 + 0.25 * elevation, 0.15, 0.65))
    shear = -shadow.x / elevation * 0.6
    drop = -shadow.y / elevation * 0.08 * height
    # Affine: a point `up` pixels above the floor lands `squash*up` above it, sheared sideways.
    m = np.array([[1, -shear * squash, shear * squash * floor], [0, squash, (1 - squash) * floor + drop]], np.float32)
    cast = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR)
    cast = cv2.GaussianBlur(cast, (0, 0), max(1.0, (0.01 + 0.08 * shadow.size) * height))
    contact = np.zeros_like(alpha)
    base = alpha[max(0, int(floor) - 2) : int(floor) + 1].max(axis=0)
    contact[min(h - 1, int(floor))] = base
    contact = cv2.GaussianBlur(contact, (0, 0), max(1.0, 0.015 * height)) * 6
    return np.clip(np.maximum(cast * 0.8, contact), 0, 1) * shadow.opacity


def add_shadow(rgba: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Put a black shadow of the given strength under the (straight-alpha) subject."""
    a = rgba[..., 3].astype(np.float32) / 255
    out_a = a + (1 - a) * strength
    colour = rgba[..., :3].astype(np.float32) * (a / np.maximum(out_a, 1e-6))[..., None]
    return np.dstack([np.rint(colour).astype(np.uint8), np.rint(out_a * 255).astype(np.uint8)])


MAX_OUTPUT_SIDE = 8192  # px: margins may grow the cut-out this far (inputs are at most 6000 px a side)


def crop_to_subject(rgba: np.ndarray, margins: Mapping[str, tuple[str, float]] | None = None) -> np.ndarray:
    """Crop to the visible subject's bounding box, then pad each side by its margin (transparent).

    Percent margins are of the final canvas: 10 % each side leaves the subject 80 % of the width.
    """
    visible = rgba[..., 3] > 8
    if not visible.any():
        return rgba
    ys, xs = np.nonzero(visible)
    cropped = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    ch, cw = cropped.shape[:2]
    margins = margins or {}

    def pad(side: str, extent: int, pair: str) -> int:
        unit, amount = margins.get(side, ("px", 0.0))
        if unit == "px":
            return round(amount)
        other_unit, other = margins.get(pair, ("px", 0.0))
        total = amount + (other if other_unit == "%" else 0.0)
        return round(extent * (amount / 100) / max(1 - total / 100, 0.02))

    top, bottom = pad("top", ch, "bottom"), pad("bottom", ch, "top")
    left, right = pad("left", cw, "right"), pad("right", cw, "left")
    width, height = cw + left + right, ch + top + bottom
    if max(width, height) > MAX_OUTPUT_SIDE:
        raise InvalidOption(
            f"the margins make a {width}x{height} image; the output is at most {MAX_OUTPUT_SIDE} px a side", "margin"
        )
    return cv2.copyMakeBorder(cropped, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0, 0))
