"""Image files as real files are, built in code (nothing committed): PNG at any bit depth with any
chunk, ICC profiles (an Adobe RGB-like matrix profile, a linear grey one, a CMYK lookup-table one),
CMYK JPEGs with and without Adobe's marker, and a soft-edged subject on a plain backdrop."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, ImageChops

# --- PNG ----------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(samples: np.ndarray, colour_type: int, depth: int = 8, chunks: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A PNG of `samples` (HxW or HxWxC: grey 0, RGB 2, grey+alpha 4, RGBA 6) at 8 or 16 bits, or
    packed rows (HxB uint8 bytes, with the width as ``samples.shape[1] * 8 // depth``) below 8 bits.
    `chunks` go between IHDR and IDAT (tRNS, iCCP, ...)."""
    h = samples.shape[0]
    if depth < 8:
        width, raw = samples.shape[1] * 8 // depth, samples.astype(np.uint8)
    else:
        width, raw = samples.shape[1], samples.astype(">u2" if depth == 16 else np.uint8)
    rows = b"".join(b"\0" + raw[y].tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", width, h, depth, colour_type, 0, 0, 0)
    body = b"".join(_chunk(kind, data) for kind, data in chunks)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + body
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def trns(*values: int) -> tuple[bytes, bytes]:
    """A tRNS colour key chunk (one value for grey, three for RGB), in the file's own bit depth."""
    return b"tRNS", struct.pack(f">{len(values)}H", *values)


def png16(rgb16: np.ndarray) -> bytes:
    """A 16-bit RGB or RGBA PNG (libpng through OpenCV)."""
    order = cv2.COLOR_RGBA2BGRA if rgb16.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb16, order))
    assert ok
    return data.tobytes()


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


# --- ICC profiles -------------------------------------------------------------------------------

D50 = (0.9642, 1.0, 0.8249)
ADOBE_RGB_D50 = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087), (0.14919, 0.06322, 0.74457))
SRGB_D50 = np.array(  # the sRGB matrix adapted to D50, as in LittleCMS's built-in sRGB profile
    [[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169], [0.0139322, 0.0971045, 0.7141733]]
)


def _s15(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x, y, z)


def _gamma(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">IIHB", 0, 0, 0, 0) + b"\0" * 67


def icc(device_class: bytes, space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    """An ICC v2.1 profile from its tags (each tag's data 4-byte aligned after the tag table)."""
    table, body = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        table += signature + struct.pack(">II", start + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = start + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + device_class
        + space
        + pcs
        + b"\0" * 12  # date
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # perceptual
        + _s15(*D50)
        + b"\0" * 48  # creator, id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_rgb_profile() -> bytes:
    """A matrix/TRC RGB profile with Adobe RGB (1998)'s primaries and gamma (563/256)."""
    r, g, b = ADOBE_RGB_D50
    curve = _gamma(563 / 256)
    return icc(
        b"mntr",
        b"RGB ",
        b"XYZ ",
        {
            b"desc": _desc("Adobe RGB-like (test)"),
            b"wtpt": _xyz(*D50),
            b"rXYZ": _xyz(*r),
            b"gXYZ": _xyz(*g),
            b"bXYZ": _xyz(*b),
            b"rTRC": curve,
            b"gTRC": curve,
            b"bTRC": curve,
        },
    )


def linear_grey_profile() -> bytes:
    """A GRAY profile with a linear (gamma 1.0) tone curve: grey 128 is sRGB ~188."""
    return icc(
        b"mntr", b"GRAY", b"XYZ ", {b"desc": _desc("linear grey (test)"), b"wtpt": _xyz(*D50), b"kTRC": _gamma(1.0)}
    )


def srgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIE Lab (D50) of an 8-bit sRGB colour."""
    c = np.asarray(rgb, float) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = SRGB_D50 @ linear / np.asarray(D50)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


# The CMYK profile's corners: no ink is white, each ink alone is the colour below, and the rest
# follow the naive model. Cyan alone is deliberately not the naive (0, 255, 255).
CMYK_CYAN = (0, 120, 200)


def _cmyk_corner(c: int, m: int, y: int, k: int) -> tuple[int, int, int]:
    if (c, m, y, k) == (1, 0, 0, 0):
        return CMYK_CYAN
    return ((1 - c) * (1 - k) * 255, (1 - m) * (1 - k) * 255, (1 - y) * (1 - k) * 255)


def cmyk_profile() -> bytes:
    """A CMYK input profile: a 2-point-per-ink lut16 (A2B0) to Lab, with the corners above."""
    entries = []
    for corner in np.ndindex(2, 2, 2, 2):  # the first ink varies slowest, as ICC orders the grid
        lab_l, lab_a, lab_b = srgb_to_lab(_cmyk_corner(*corner))
        entries += [round(lab_l * 0xFF00 / 100), round((lab_a + 128) * 256), round((lab_b + 128) * 256)]
    identity = _s15(1, 0, 0, 0, 1, 0, 0, 0, 1)
    ramp = struct.pack(">HH", 0, 65535)
    lut = (
        b"mft2\0\0\0\0"
        + struct.pack(">BBBB", 4, 3, 2, 0)
        + identity
        + struct.pack(">HH", 2, 2)
        + ramp * 4
        + struct.pack(f">{len(entries)}H", *np.clip(entries, 0, 65535))
        + ramp * 3
    )
    return icc(b"scnr", b"CMYK", b"Lab ", {b"desc": _desc("CMYK lut (test)"), b"wtpt": _xyz(*D50), b"A2B0": lut})


# --- JPEG ---------------------------------------------------------------------------------------


def cmyk_jpeg(cmyk: np.ndarray, *, adobe: bool = True, icc_profile: bytes | None = None) -> bytes:
    """A CMYK JPEG of HxWx4 ink values (0 = no ink). With Adobe's APP14 marker the samples are stored
    inverted (Photoshop's way, and Pillow's); without it, plain."""
    image = Image.fromarray(cmyk, "CMYK")
    options = {"quality": 100, "subsampling": 0, **({"icc_profile": icc_profile} if icc_profile else {})}
    if adobe:
        return save(image, "JPEG", **options)
    # Pillow writes the marker and inverted samples; writing the inverse and dropping the marker
    # leaves plain samples.
    data = save(ImageChops.invert(image), "JPEG", **options)
    at = data.index(b"\xff\xee")
    length = struct.unpack(">H", data[at + 2 : at + 4])[0]
    return data[:at] + data[at + 2 + length :]


def naive_cmyk_to_rgb(cmyk: tuple[int, int, int, int]) -> tuple[int, int, int]:
    c, m, y, k = (v / 255 for v in cmyk)
    return tuple(round(255 * (1 - v) * (1 - k)) for v in (c, m, y))  # type: ignore[return-value]


# --- subjects -----------------------------------------------------------------------------------


def disc_alpha(
    size: tuple[int, int] = (256, 256), soft: float = 0.7, centre: tuple[int, int] | None = None
) -> np.ndarray:
    """A disc of radius ~a quarter of the short side, its edge blurred by a Gaussian of `soft` px."""
    h, w = size
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cx, cy = centre or (w // 2 - 10, h // 2 + 5)
    inside = (np.hypot(xx - cx, yy - cy) <= min(h, w) * 0.27).astype(np.float32)
    return cv2.GaussianBlur(inside, (0, 0), soft) if soft else inside


def over(colour: tuple[int, ...], backdrop: tuple[int, ...], alpha: np.ndarray) -> np.ndarray:
    """``colour a + backdrop (1 - a)`` as HxWxC float (any bit depth: round it yourself)."""
    a = alpha[..., None]
    return np.float64(colour) * a + np.float64(backdrop) * (1 - a)
