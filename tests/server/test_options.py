"""The providers' options as their requests give them: fal's and Pixazo's backgrounds (Pixelcut's
background colour), Pixelcut's shadow and margins. The engine takes what they parse to as plain values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.engine import compose
from mockserver.engine.errors import InvalidOption
from mockserver.providers import work
from mockserver.providers.pixelcut import handlers as pixelcut


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
        assert work.parse_background(background, colour).colour == expected

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
            work.parse_background(background, colour)

    @given(st.tuples(*[st.integers(0, 255)] * 3))
    def test_hex_and_rgb_agree(self, rgb: tuple[int, int, int]) -> None:
        as_hex = "#{:02x}{:02x}{:02x}".format(*rgb)
        as_obj = dict(zip("rgb", rgb, strict=True))
        assert work.parse_background("custom", as_obj) == work.parse_background(as_hex)


class TestShadow:
    def test_defaults_and_validation(self) -> None:
        assert pixelcut.parse_shadow(True) == compose.Shadow()
        assert pixelcut.parse_shadow(False) is None
        assert pixelcut.parse_shadow({"enabled": False}) is None
        custom = pixelcut.parse_shadow(
            {"opacity": 0.8, "light_source": {"size": 0.1, "position": {"x": 1, "y": 0, "z": 2}}}
        )
        assert custom == compose.Shadow(opacity=0.8, size=0.1, x=1.0, y=0.0, z=2.0)
        for bad in ({"opacity": 2}, {"light_source": {"position": {"x": -3}}}, {"opacity": "half"}, "yes"):
            with pytest.raises(InvalidOption):
                pixelcut.parse_shadow(bad)


class TestMargin:
    def test_pixels_and_percents(self) -> None:
        """What the engine's crop takes (tests/engine/test_compose.py crops with these)."""
        assert pixelcut.parse_margin("5px") == ("px", 5.0)
        assert pixelcut.parse_margin("10%") == ("%", 10.0)

    @pytest.mark.parametrize("bad", ["50%", "ten", "10", 10, "-1px"])
    def test_invalid_margin(self, bad: object) -> None:
        with pytest.raises(InvalidOption):
            pixelcut.parse_margin(bad)
