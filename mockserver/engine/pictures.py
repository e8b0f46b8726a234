"""From an opened image file to what the user saw: sRGB pixels and the file's own alpha.

``Picture(rgb, alpha)``: ``rgb`` HxWx3 uint8 in sRGB, ``alpha`` HxW float32 in [0, 1], or None when
the file has no transparency (no alpha, or an alpha that is opaque everywhere). The rules, per
DESIGN §6 ("inputs as real files are"):

- **Bit depth.** 16-bit samples are scaled, ``round(v / 257)`` (65535 -> 255, 0x80FF -> 129), never
  clipped or truncated. Pillow reads 16-bit colour PNGs (RGB, RGBA, grey+alpha) by keeping the high
  byte and drops grey+alpha's alpha, so those PNGs are decoded by OpenCV's libpng at full depth;
  16-bit grey opens in Pillow as ``I;16`` (``I;16B``/``I;16L``/``I;16N`` alike) and is scaled here.
- **Mode I** (32-bit integer, the mode some readers give 16-bit grey): on the same 16-bit scale,
  values clipped to 0..65535, then ``round(v / 257)``.
- **Mode F** (32-bit float): the float-image convention, 0.0 black and 1.0 white; values clipped to
  [0, 1] then ``round(v * 255)``; NaN is black.
- **1, L, P, YCbCr, HSV, RGBX**: Pillow's own conversions; **LAB** through LittleCMS's Lab profile.
- **Transparency** becomes alpha: alpha channels (LA, RGBA, PA; premultiplied La/RGBa are
  un-premultiplied), palette transparency and tRNS colour keys on grey and RGB (an exact match at
  the file's own bit depth: Pillow leaves 2- and 4-bit grey keys unscaled, scaled here).
- **ICC profiles** (``icc_profile`` of PNG, JPEG, WebP) whose colour space matches the pixels (RGB,
  GRAY or CMYK) are converted to sRGB with LittleCMS (Pillow's ImageCms, perceptual intent, which is
  relative colorimetric for matrix profiles). A profile that cannot be read or does not match the
  pixels is ignored, as browsers do; no profile means sRGB.
- **CMYK JPEG**: with Adobe's APP14 marker the samples are inverted (Photoshop's convention, which
  Pillow assumes for every CMYK JPEG); without it they are plain CMYK, as libjpeg writes them. With
  no profile, CMYK -> RGB is the naive ``R = (1 - C)(1 - K)`` (Pillow's, and browsers').
- **EXIF orientation** (tag 0x0112, or XMP's where EXIF has none, as Pillow reads it) is applied.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageChops, ImageCms

__all__ = ["Picture", "from_pillow", "scale16"]


@dataclass(frozen=True)
class Picture:
    """sRGB pixels and the input's own straight alpha (None: opaque)."""

    rgb: np.ndarray  # HxWx3 uint8, sRGB
    alpha: np.ndarray | None = None  # HxW float32 in [0, 1]

    def flattened(self, colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
        """HxWx3 uint8: the picture over a plain colour (white), as a viewer shows it."""
        if self.alpha is None:
            return self.rgb
        a = self.alpha[..., None]
        return np.rint(self.rgb * a + np.array(colour, np.float32) * (1 - a)).astype(np.uint8)


def scale16(values: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits, ``round(v / 257)``, in integers (values outside 0..65535 clipped)."""
    v = np.clip(values, 0, 65535).astype(np.uint32)
    return ((v + 128) // 257).astype(np.uint8)


def from_pillow(image: Image.Image, data: bytes | None = None) -> Picture:
    """The Picture of an opened image. `data` (the file's bytes) lets 16-bit colour PNGs be decoded at
    full depth and low-bit grey colour keys be scaled; without it Pillow's decoding is used."""
    depth, colour_type = _png_header(image, data)
    decoded = _png16(data) if data is not None and depth == 16 and colour_type in (2, 4, 6) else None
    pixels, alpha = decoded if decoded is not None else _channels(image, depth)
    rgb = _to_srgb(pixels, image.info.get("icc_profile"))
    if alpha is not None and float(alpha.min()) >= 1.0:
        alpha = None
    orient = _ORIENTATION.get(_orientation(image))
    if orient is not None:
        rgb = np.ascontiguousarray(orient(rgb))
        alpha = None if alpha is None else np.ascontiguousarray(orient(alpha))
    return Picture(rgb, alpha)


# --- modes --------------------------------------------------------------------------------------


def _png_header(image: Image.Image, data: bytes | None) -> tuple[int, int]:
    """PNG bit depth and colour type from IHDR (always the first chunk), else (8, -1)."""
    if image.format == "PNG" and data is not None and len(data) >= 26:
        return data[24], data[25]
    return 8, -1


def _png16(data: bytes) -> tuple[Image.Image, np.ndarray | None] | None:
    """A 16-bit colour PNG through libpng at full depth (tRNS already expanded to alpha)."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3:
        return None
    alpha = pixels[..., 3].astype(np.float32) / 65535 if pixels.shape[2] == 4 else None
    rgb = scale16(pixels[..., 2::-1])
    if data[25] == 4:  # grey + alpha: keep it grey so a GRAY profile still applies
        return Image.fromarray(np.ascontiguousarray(rgb[..., 0]), "L"), alpha
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB"), alpha


def _key_alpha(values: np.ndarray, key: object) -> np.ndarray | None:
    """Alpha of a tRNS colour key: 0 where every channel equals the key, else 1."""
    if key is None or isinstance(key, bytes):
        return None
    match = values == np.asarray(key)
    if match.ndim == 3:
        match = match.all(axis=2)
    return None if not match.any() else (~match).astype(np.float32)


def _alpha8(channel: np.ndarray) -> np.ndarray:
    return channel.astype(np.float32) * np.float32(1 / 255)


def _channels(image: Image.Image, depth: int = 8) -> tuple[Image.Image, np.ndarray | None]:
    """Colour as an 8-bit Pillow image in L, RGB, CMYK or LAB (ICC not yet applied), and the alpha."""
    mode, key = image.mode, image.info.get("transparency")
    if mode in ("1", "L"):
        grey = np.asarray(image.convert("L"))
        if mode == "L" and isinstance(key, int) and depth < 8:
            key = key * 255 // (2**depth - 1)  # Pillow scales 1..4-bit pixels, not their key
        return Image.fromarray(grey, "L"), _key_alpha(grey, key)
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image)
        if mode == "F":
            grey = np.rint(np.clip(np.nan_to_num(values, nan=0.0), 0, 1) * 255).astype(np.uint8)
            return Image.fromarray(grey, "L"), None
        return Image.fromarray(scale16(values), "L"), _key_alpha(values, key)
    if mode in ("LA", "La"):
        la = np.asarray(image.convert("LA"))
        return Image.fromarray(np.ascontiguousarray(la[..., 0]), "L"), _alpha8(la[..., 1])
    if mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in image.info
        return _channels(image.convert("RGBA" if transparent else "RGB"))
    if mode == "RGB":
        return image, None if key is None else _key_alpha(np.asarray(image), key)
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(image.convert("RGBA"))
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB"), _alpha8(rgba[..., 3])
    if mode == "CMYK":
        if image.format == "JPEG" and "adobe" not in image.info:
            image = ImageChops.invert(image)  # plain CMYK: undo Pillow's Adobe inversion
        return image, None
    if mode == "LAB":
        return image, None
    return image.convert("RGB"), None  # YCbCr, HSV, RGBX


# --- colour -------------------------------------------------------------------------------------

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SPACE = {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK", "LAB": "LAB"}


@lru_cache(maxsize=16)
def _transform(icc: bytes | None, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached transform from the embedded profile (or Lab) to sRGB, None when unusable."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc) if icc else ImageCms.createProfile("LAB"))
        if profile.profile.xcolor_space.strip() != _SPACE[mode]:
            return None
        return ImageCms.buildTransform(
            profile,
            _SRGB,
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,  # applied from several threads at once
        )
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None


def _to_srgb(pixels: Image.Image, icc: object) -> np.ndarray:
    """HxWx3 uint8 sRGB from L, RGB, CMYK or LAB pixels and the file's ICC profile (if any)."""
    profile = icc if isinstance(icc, bytes) and icc else None
    transform = None
    if profile is not None or pixels.mode == "LAB":
        transform = _transform(profile, pixels.mode)
        if transform is None and pixels.mode == "LAB":
            transform = _transform(None, "LAB")
    if transform is not None:
        return np.asarray(ImageCms.applyTransform(pixels, transform))
    return np.asarray(pixels.convert("RGB"))


# --- orientation --------------------------------------------------------------------------------

_ORIENTATION: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # 180°
    4: lambda a: a[::-1],  # flipped
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: np.rot90(a, -1),  # 90° clockwise
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transversed
    8: lambda a: np.rot90(a, 1),  # 90° counter-clockwise
}


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a corrupt EXIF block does not make the pixels unreadable
        return 1
    return value if isinstance(value, int) else 1
