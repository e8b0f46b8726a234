"""Images out: backgrounds, straight-alpha PNG, Pixelcut's shadow, crop and margins."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from mockserver.engine import compose
from mockserver.engine.errors import InvalidOption


def _disc(h: int = 200, w: int = 200, centre: tuple[int, int] = (100, 90), radius: int = 40) -> np.ndarray:
    alpha = np.zeros((h, w), np.float32)
    cv2.circle(alpha, centre, radius, 1.0, -1)
    return alpha


class TestBackgrounds:
    @pytest.mark.parametrize(
        ("background", "colour", "expected"),
        [
            ("transparent", None, None),
            (None, None, None),
            ("magenta", None, (255, 0, 255)),
            ("custom", {"r": 1, "g": 2, "b": 3}, (1, 2, 3)),
            ("custom", "#abc", (0xAA, 0xBB, 0xCC)),
            ("#FF5733", None, (0xFF, 0x57, 0x33)),
        ],
    )
    def test_parse(self, background: str | None, colour: object, expected: tuple[int, int, int] | None) -> None:
        assert compose.parse_background(background, colour).colour == expected

    @pytest.mark.parametrize(
        ("background", "colour"),
        [
            ("custom", None),
            ("custom", {"r": 1, "g": 2}),
            ("custom", {"r": 256, "g": 0, "b": 0}),
            ("custom", {"r": True, "g": 0, "b": 0}),
            ("purple", None),
            ("#12345", None),
        ],
    )
    def test_invalid(self, background: str, colour: object) -> None:
        with pytest.raises(InvalidOption):
            compose.parse_background(background, colour)

    @given(st.tuples(*[st.integers(0, 255)] * 3))
    def test_hex_and_rgb_agree(self, rgb: tuple[int, int, int]) -> None:
        as_hex = "#{:02x}{:02x}{:02x}".format(*rgb)
        as_obj = dict(zip("rgb", rgb, strict=True))
        assert compose.parse_background("custom", as_obj) == compose.parse_background(as_hex)


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


class TestShadow:
    def test_defaults_and_validation(self) -> None:
        assert compose.Shadow.from_request(True) == compose.Shadow()
        assert compose.Shadow.from_request(False) is None
        assert compose.Shadow.from_request({"enabled": False}) is None
        custom = compose.Shadow.from_request(
            {"opacity": 0.8, "light_source": {"size": 0.1, "position": {"x": 1, "y": 0, "z": 2}}}
        )
        assert custom == compose.Shadow(opacity=0.8, size=0.1, x=1.0, y=0.0, z=2.0)
        for bad in ({"opacity": 2}, {"light_source": {"position": {"x": -3}}}, {"opacity": "half"}, "yes"):
            with pytest.raises(InvalidOption):
                compose.Shadow.from_request(bad)

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
        margins = {side: compose.parse_margin("5px") for side in ("top", "bottom", "left", "right")}
        assert compose.crop_to_subject(self._rgba(), margins).shape == (50, 50, 4)
        margins = {side: compose.parse_margin("10%") for side in ("top", "bottom", "left", "right")}
        out = compose.crop_to_subject(self._rgba(), margins)
        assert out.shape == (50, 50, 4)  # the subject fills 80 % each way
        assert out[0, 0, 3] == 0 and out[25, 25, 3] == 255

    @pytest.mark.parametrize("bad", ["50%", "ten", "10", 10, "-1px"])
    def test_invalid_margin(self, bad: object) -> None:
        with pytest.raises(InvalidOption):
            compose.parse_margin(bad)
