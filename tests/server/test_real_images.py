"""Images as real files are, through HTTP: every provider route that cuts out an image, each kind of
input file, the decoded output checked pixel by pixel (sRGB colour, alpha, edge colour, size).

Routes: Pixelcut ``/v1/remove-background`` (upload, answered as PNG bytes; ``image_url``, answered
with a result URL) and PixelAPI ``/v1/image/remove-background`` (upload and ``image_url``, as jobs).
fal and Pixazo take videos only. The subjects sit on plain backdrops, where the default engine
(auto) uses classic.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image, ImageCms

from tests import image_files as files
from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio
PIXELCUT = {"X-API-KEY": "sk_test_one"}
PIXELAPI = {"Authorization": "Bearer pk_live_test", "User-Agent": "MyApp/1.0"}
RED, GREEN = (220, 30, 30), (40, 170, 60)


@dataclass(frozen=True)
class Case:
    data: bytes
    content_type: str
    truth: np.ndarray  # the subject's alpha as the output must show it (HxW, output orientation)
    colour: tuple[int, int, int]  # the subject's sRGB colour
    tolerance: int = 0  # on the colour inside the subject (lossy files)
    own_alpha: bool = False  # the input is a cut-out: its alpha and colours come back exactly
    edge: bool = True  # check the colour of the semi-transparent edge


def _soft_edge_png() -> Case:
    alpha = files.disc_alpha()
    return Case(files.save(Image.fromarray(_u8(files.over(RED, GREEN, alpha))), "PNG"), "image/png", alpha, RED)


def _png16() -> Case:
    """16-bit RGB: 65280, 7967 and 510 are 254, 31, 2 scaled (v / 257); their high bytes say 255, 31, 1."""
    alpha = files.disc_alpha()
    samples = np.rint(files.over((65280, 7967, 510), tuple(257 * c for c in GREEN), alpha)).astype(np.uint16)
    return Case(files.png16(samples), "image/png", alpha, (254, 31, 2))


def _grey16() -> Case:
    alpha = files.disc_alpha()
    samples = np.rint(files.over((52000,), (20000,), alpha))[..., 0].astype(np.uint16)
    return Case(files.png(samples, 0, 16), "image/png", alpha, (202, 202, 202))  # 52000 / 257 = 202.3


def _icc_png() -> Case:
    """An Adobe RGB photo: its raw (200, 40, 40) is what LittleCMS makes of it in sRGB."""
    alpha, profile = files.disc_alpha(), files.adobe_rgb_profile()
    raw = Image.fromarray(_u8(files.over((200, 40, 40), (60, 160, 80), alpha)))
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    srgb = ImageCms.profileToProfile(Image.new("RGB", (1, 1), (200, 40, 40)), source, ImageCms.createProfile("sRGB"))
    colour = tuple(int(v) for v in np.asarray(srgb)[0, 0])
    assert abs(colour[0] - 200) > 20, "the test profile must change the colour"
    return Case(files.save(raw, "PNG", icc_profile=profile), "image/png", alpha, colour)  # type: ignore[arg-type]


def _cmyk_jpeg() -> Case:
    alpha = files.disc_alpha(soft=0)
    inks = np.where(alpha[..., None] > 0.5, np.uint8((0, 220, 200, 20)), np.uint8((150, 0, 160, 30)))
    data = files.cmyk_jpeg(inks.astype(np.uint8))
    return Case(data, "image/jpeg", alpha, files.naive_cmyk_to_rgb((0, 220, 200, 20)), tolerance=4, edge=False)


def _exif_rotated_jpeg() -> Case:
    """Stored 256 wide and 192 high with the subject on the left; shown rotated 90° clockwise."""
    stored = files.disc_alpha((192, 256), soft=0, centre=(80, 96))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = files.save(Image.fromarray(_u8(files.over(RED, GREEN, stored))), "JPEG", quality=98, exif=exif)
    return Case(data, "image/jpeg", np.rot90(stored, -1), RED, tolerance=6, edge=False)


def _logo(kind: str) -> Case:
    """A near-white logo on transparency: on white it would not stand out; its alpha is the matte."""
    alpha = files.disc_alpha(soft=1.0 if kind != "palette" else 0)
    rgba = np.dstack([np.full((256, 256, 3), 250, np.uint8), _u8(alpha * 255)])
    image = Image.fromarray(rgba)
    if kind == "palette":
        image = Image.fromarray((alpha >= 0.5).astype(np.uint8), "P")  # index 0 transparent, 1 the logo
        image.putpalette([0, 0, 0, 250, 250, 250])
        data, content_type, truth = files.save(image, "PNG", transparency=0), "image/png", (alpha >= 0.5) * 1.0
    elif kind == "webp":
        data, content_type, truth = files.save(image, "WEBP", lossless=True, exact=True), "image/webp", alpha
    else:
        data, content_type, truth = files.save(image, "PNG"), "image/png", alpha
    return Case(data, content_type, truth, (250, 250, 250), own_alpha=True)


def _u8(values: np.ndarray) -> np.ndarray:
    return np.rint(values).astype(np.uint8)


CASES: dict[str, Callable[[], Case]] = {
    "soft-edge-png": _soft_edge_png,
    "rgb16-png": _png16,
    "grey16-png": _grey16,
    "adobe-rgb-png": _icc_png,
    "cmyk-jpeg": _cmyk_jpeg,
    "exif-rotated-jpeg": _exif_rotated_jpeg,
    "logo-rgba-png": lambda: _logo("rgba"),
    "logo-palette-png": lambda: _logo("palette"),
    "logo-webp": lambda: _logo("webp"),
}


# --- the routes -----------------------------------------------------------------------------------


async def _pixelcut_upload(client: httpx.AsyncClient, case: Case) -> bytes:
    r = await client.post(
        "/pixelcut/v1/remove-background",
        files={"image": ("input", case.data, case.content_type)},
        headers={**PIXELCUT, "Accept": "image/png"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    return r.content


async def _pixelcut_url(client: httpx.AsyncClient, case: Case) -> bytes:
    body = {"image_url": data_url(case.data, case.content_type)}
    r = await client.post("/pixelcut/v1/remove-background", json=body, headers=PIXELCUT)
    assert r.status_code == 200, r.text
    return (await client.get(r.json()["result_url"])).content


async def _pixelapi(client: httpx.AsyncClient, **request: object) -> bytes:
    r = await client.post("/pixelapi/v1/image/remove-background", headers=PIXELAPI, **request)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    await advance(client, 10)
    job = (await client.get(f"/pixelapi/v1/image/{r.json()['generation_id']}", headers=PIXELAPI)).json()
    assert job["status"] == "completed", job
    return (await client.get(job["output_url"])).content


async def _pixelapi_upload(client: httpx.AsyncClient, case: Case) -> bytes:
    return await _pixelapi(client, files={"image": ("input", case.data, case.content_type)})


async def _pixelapi_url(client: httpx.AsyncClient, case: Case) -> bytes:
    return await _pixelapi(client, json={"image_url": data_url(case.data, case.content_type)})


ROUTES: dict[str, Callable[[httpx.AsyncClient, Case], Awaitable[bytes]]] = {
    "pixelcut-upload": _pixelcut_upload,
    "pixelcut-url": _pixelcut_url,
    "pixelapi-upload": _pixelapi_upload,
    "pixelapi-url": _pixelapi_url,
}


# --- the checks -----------------------------------------------------------------------------------


def _within(mask: np.ndarray, pixels: int) -> np.ndarray:
    """`mask` shrunk by `pixels` (what is surely inside)."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)).astype(bool)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("kind", CASES)
async def test_real_image(client: httpx.AsyncClient, route: str, kind: str) -> None:
    case = CASES[kind]()
    with Image.open(io.BytesIO(await ROUTES[route](client, case))) as image:
        assert image.format == "PNG" and image.mode == "RGBA"
        assert "icc_profile" not in image.info, "the output is sRGB, untagged"
        out = np.asarray(image)
    assert out.shape[:2] == case.truth.shape, "exact dimensions (orientation applied)"
    rgb, alpha = out[..., :3].astype(int), out[..., 3]
    if case.own_alpha:
        assert (alpha == np.rint(case.truth * 255)).all(), "the input's own alpha comes back"
        assert (np.abs(rgb[alpha > 0] - case.colour) == 0).all(), "and its own colours"
        return
    inside, outside = _within(case.truth >= 0.999, 3), _within(case.truth <= 0.001, 3)
    assert (alpha[inside] == 255).mean() > 0.995 and (alpha[outside] == 0).mean() > 0.995
    deviation = np.abs(rgb - case.colour).max(axis=2)
    assert deviation[inside & (alpha == 255)].max() <= case.tolerance, "the subject's sRGB colour"
    if case.edge:
        edge = (alpha >= 26) & (alpha <= 229)  # 0.1 < a < 0.9
        assert edge.sum() > 100, "the edge is soft"
        assert deviation[edge].max() <= 40, "edge pixels carry the subject's colour, not the backdrop's"
