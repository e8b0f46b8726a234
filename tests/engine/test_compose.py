"""Images out: backgrounds, straight-alpha PNG, edge pixels carrying the foreground colour, the input's
own alpha, Pixelcut's shadow, crop and margins."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from mockserver.engine import compose, matting
from mockserver.engine.errors import NoForeground
from mockserver.engine.pictures import Picture
from tests import image_files as files


def _disc(h: int = 200, w: int = 200, centre: tuple[int, int] = (100, 90), radius: int = 40) -> np.ndarray:
    alpha = np.zeros((h, w), np.float32)
    cv2.circle(alpha, centre, radius, 1.0, -1)
    return alpha


def test_png_has_straight_alpha() -> None:
    rgb = np.full((50, 60, 3), (10, 200, 30), np.uint8)
    alpha = np.linspace(0, 1, 60, dtype=np.float32)[None].repeat(50, 0)
    png = compose.encode_png(compose.composite(rgb, alpha, compose.TRANSPARENT))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (60, 50)
    pixels = np.asarray(image)
    assert np.abs(pixels[..., 3].astype(int) - np.rint(alpha * 255)).max() <= 1
    assert (pixels[:, 1:, :3] == (10, 200, 30)).all(), "colour must not be premultiplied"


def test_opaque_composite_blends_over_colour() -> None:
    rgb = np.full((4, 4, 3), 200, np.uint8)
    out = compose.composite(rgb, np.full((4, 4), 0.25, np.float32), compose.Background((0, 0, 0)))
    assert (out[..., 3] == 255).all() and (out[..., :3] == 50).all()


RED, GREEN, BLUE = (220, 30, 30), (40, 170, 60), (0, 0, 255)


def _red_on_green(soft: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on green whose edge is a Gaussian of `soft` px: the image and its exact alpha."""
    alpha = files.disc_alpha((200, 200), soft)
    return np.rint(files.over(RED, GREEN, alpha)).astype(np.uint8), alpha


def _blur_fusion_reference(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Forte & Pitié's two passes as published, on the whole frame (box sizes as matting's)."""

    def fuse(image: np.ndarray, f: np.ndarray, b: np.ndarray, a: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        box = (2 * r + 1, 2 * r + 1)
        blurred_a = cv2.blur(a, box)[..., None]
        blurred_f = cv2.blur(f * a[..., None], box) / (blurred_a + 1e-5)
        blurred_b = cv2.blur(b * (1 - a[..., None]), box) / (1 - blurred_a + 1e-5)
        a3 = a[..., None]
        return np.clip(blurred_f + a3 * (image - a3 * blurred_f - (1 - a3) * blurred_b), 0, 1), blurred_b

    image = rgb.astype(np.float32) / 255
    f, b = fuse(image, image, image, alpha, matting.FIRST_RADIUS)
    return fuse(image, f, b, alpha, matting.SECOND_RADIUS)[0] * 255


class TestForegroundColour:
    def test_edge_pixels_carry_the_subject_colour_not_the_backdrop(self) -> None:
        rgb, alpha = _red_on_green()
        band = (alpha > 0.05) & (alpha < 0.95)
        rgba = compose.composite(rgb, alpha, compose.TRANSPARENT)
        assert np.abs(rgba[..., :3][band].astype(int) - RED).max() <= 8
        assert (rgba[..., 3] == np.rint(alpha * 255)).all(), "alpha stays straight and unchanged"
        mixed = compose.composite(rgb, alpha, compose.TRANSPARENT, foreground=False)
        assert (mixed[..., 1][band] > mixed[..., 0][band]).mean() > 0.4, "the mixed pixels were greenish"

    def test_over_a_colour_the_old_backdrop_does_not_bleed(self) -> None:
        rgb, alpha = _red_on_green()
        out = compose.composite(rgb, alpha, compose.Background(BLUE))
        expected = files.over(RED, BLUE, alpha)
        assert (out[..., 3] == 255).all()
        assert np.abs(out[..., :3].astype(float) - expected).max() <= 8
        assert np.abs(compose.over_image(rgb, alpha, np.full_like(rgb, BLUE)) - expected).max() <= 8

    def test_matches_the_published_blur_fusion_in_the_band(self) -> None:
        rng = np.random.default_rng(7)
        rgb = cv2.GaussianBlur(rng.integers(0, 256, (160, 240, 3), dtype=np.uint8), (0, 0), 3)
        alpha = files.disc_alpha((160, 240), 2.5, centre=(100, 70))
        band = matting.matte_band(alpha)
        got = matting.estimate_foreground(rgb, alpha)
        assert np.abs(got[band].astype(float) - _blur_fusion_reference(rgb, alpha)[band]).max() <= 1
        assert (got[~band] == rgb[~band]).all(), "outside the band the colour is the input's"

    def test_a_wide_soft_matte_takes_the_dense_path_and_agrees(self) -> None:
        rng = np.random.default_rng(8)
        rgb = cv2.GaussianBlur(rng.integers(0, 256, (120, 120, 3), dtype=np.uint8), (0, 0), 2)
        alpha = cv2.GaussianBlur(rng.random((120, 120)).astype(np.float32), (0, 0), 4)
        band = matting.matte_band(alpha)
        assert band.mean() > 0.9
        got = matting.estimate_foreground(rgb, alpha)
        assert np.abs(got[band].astype(float) - _blur_fusion_reference(rgb, alpha)[band]).max() <= 1

    def test_a_hard_matte_is_left_alone(self) -> None:
        rgb, _ = _red_on_green()
        hard = _disc()
        assert matting.estimate_foreground(rgb, hard) is rgb


class _Engine:
    """A stand-in engine: records what it saw and answers a fixed alpha (or refuses to run)."""

    name = "stub"

    def __init__(self, alpha: np.ndarray | None = None) -> None:
        self.alpha, self.seen = alpha, None

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        if self.alpha is None:
            raise AssertionError("an input that is already a cut-out must not be segmented")
        self.seen = rgb
        return self.alpha


class TestInputAlpha:
    def test_a_cutout_keeps_its_own_alpha_and_colour(self) -> None:
        alpha = files.disc_alpha((120, 120), 1.0)
        white_logo = np.full((120, 120, 3), 250, np.uint8)  # on white it would not stand out at all
        colour, matte = matting.cut_out(Picture(white_logo, alpha), _Engine(), require_subject=True)
        assert (matte == alpha).all() and (colour == white_logo).all()

    def test_a_fully_transparent_input_has_no_subject(self) -> None:
        empty = Picture(np.zeros((80, 80, 3), np.uint8), np.zeros((80, 80), np.float32))
        with pytest.raises(NoForeground):
            matting.cut_out(empty, _Engine(), require_subject=True)

    def test_a_little_transparency_is_kept_under_the_engine_matte(self) -> None:
        rgb, truth = _red_on_green()
        own = np.ones((200, 200), np.float32)
        own[:8, :8] = 0  # a transparent corner (0.2 % of the frame): not a cut-out
        own[100:110, 60:70] = 0.5  # half transparent inside the subject
        assert not matting.is_cutout(Picture(rgb, own))
        engine = _Engine(truth)
        colour, matte = matting.cut_out(Picture(rgb, own), engine)
        assert (matte == np.minimum(truth, own)).all()
        assert (colour[100:110, 60:70] == rgb[100:110, 60:70]).all(), "the input's colour where its alpha won"
        band = (truth > 0.05) & (truth < 0.95)
        assert np.abs(colour[band].astype(int) - RED).max() <= 8, "the estimated foreground elsewhere"
        assert (
            engine.seen is not None
            and (engine.seen[100:110, 60:70] == np.rint(files.over(RED, (255,) * 3, own[100:110, 60:70]))).all()
        )

    def test_a_photo_on_a_transparent_canvas_is_segmented(self) -> None:
        """26 % transparent, but the visible part is a rectangle: a photo, not a cut-out."""
        rgb, truth = _red_on_green()
        own = np.zeros((200, 200), np.float32)
        own[28:172, 28:172] = 1
        assert not matting.is_cutout(Picture(rgb, own))
        _, matte = matting.cut_out(Picture(rgb, own), _Engine(truth))
        assert (matte == np.minimum(truth, own)).all()

    def test_an_opaque_input_is_the_engine_matte(self) -> None:
        rgb, truth = _red_on_green()
        colour, matte = matting.cut_out(Picture(rgb), _Engine(truth))
        assert (matte == truth).all() and (colour == matting.estimate_foreground(rgb, truth)).all()


class TestShadow:
    def test_falls_away_from_the_light_and_keeps_the_subject(self) -> None:
        alpha = _disc()
        rgba = compose.composite(np.full((200, 200, 3), 180, np.uint8), alpha, compose.TRANSPARENT)
        for light_x, far_side in ((-0.8, "right"), (0.8, "left")):
            shadow = compose.Shadow(opacity=0.6, x=light_x)
            strength = compose.cast_shadow(alpha, shadow)
            out = compose.add_shadow(rgba, strength)
            assert (out[alpha > 0.99] == rgba[alpha > 0.99]).all(), "subject pixels changed"
            outside = alpha < 0.01
            assert strength.max() <= 0.6 + 1e-6 and strength[outside].max() > 0.1
            left, right = strength[:, :100][outside[:, :100]].sum(), strength[:, 100:][outside[:, 100:]].sum()
            assert (right > left) if far_side == "right" else (left > right)
            assert (out[..., :3][outside & (strength > 0.05)] == 0).all(), "shadow is black"

    def test_no_subject_no_shadow(self) -> None:
        assert compose.cast_shadow(np.zeros((20, 20), np.float32), compose.Shadow()).max() == 0


class TestCropAndMargin:
    def _rgba(self) -> np.ndarray:
        alpha = np.zeros((100, 100), np.float32)
        alpha[20:60, 30:70] = 1
        return compose.composite(np.full((100, 100, 3), 90, np.uint8), alpha, compose.TRANSPARENT)

    def test_crop(self) -> None:
        assert compose.crop_to_subject(self._rgba()).shape == (40, 40, 4)

    def test_pixel_and_percent_margins(self) -> None:
        margins = {side: ("px", 5.0) for side in ("top", "bottom", "left", "right")}  # Pixelcut's "5px"
        assert compose.crop_to_subject(self._rgba(), margins).shape == (50, 50, 4)
        margins = {side: ("%", 10.0) for side in ("top", "bottom", "left", "right")}  # "10%"
        out = compose.crop_to_subject(self._rgba(), margins)
        assert out.shape == (50, 50, 4)  # the subject fills 80 % each way
        assert out[0, 0, 3] == 0 and out[25, 25, 3] == 255
