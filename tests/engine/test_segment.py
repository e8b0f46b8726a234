"""Quality gates of the engines on the seeded synthetic set (research/segmentation.md §8).

The classic gates are its own (they must not regress); `auto`, the default, must hold the same plain
gates. Spotlight and cluttered sets are reported per engine by `make bench`.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mockserver.engine.errors import NoForeground
from mockserver.engine.metrics import MatteScore, iou
from mockserver.engine.segment import ClassicSegmenter, Segmenter, get_segmenter, segment
from mockserver.engine.synth import PLAIN, fruit_on_cloth, make_image

SEEDS = range(1000, 1060)  # report seeds; the engine was tuned on 0-59
CLASSIC = ClassicSegmenter()


def _plain_scores(size: tuple[int, int], engine: Segmenter = CLASSIC) -> list[MatteScore]:
    scores = []
    for i, seed in enumerate(SEEDS):
        sample = make_image(seed, size, background=PLAIN[i % len(PLAIN)])
        scores.append(MatteScore.of(segment(sample.rgb, engine), sample.alpha))
    return scores


def _assert_gates(scores: list[MatteScore]) -> None:
    ious = [s.iou for s in scores]
    assert np.mean(ious) >= 0.98, f"mean IoU {np.mean(ious):.4f}"
    assert min(ious) >= 0.90, f"worst IoU {min(ious):.4f}"
    assert np.mean([s.mae for s in scores]) <= 5e-3
    assert np.mean([s.edge_mae for s in scores]) <= 80e-3


def test_plain_backgrounds_512() -> None:
    _assert_gates(_plain_scores((512, 512)))


def test_auto_holds_the_plain_gates() -> None:
    _assert_gates(_plain_scores((512, 512), get_segmenter("auto")))


@pytest.mark.slow
def test_plain_backgrounds_720p() -> None:
    _assert_gates(_plain_scores((720, 1280)))


@pytest.mark.parametrize("kind", ["shadow", "spotlight"])
def test_auto_is_never_worse_than_classic_where_classic_works(kind: str) -> None:
    """auto's gates keep classic's answer on product shots with a floor shadow or a spotlight."""
    auto = get_segmenter("auto")
    for seed in SEEDS[:20]:
        sample = make_image(seed, background=kind)
        assert iou(segment(sample.rgb, auto), sample.alpha) >= iou(segment(sample.rgb, CLASSIC), sample.alpha) - 0.02


def test_spotlight_backgrounds() -> None:
    scores = [
        MatteScore.of(segment(s.rgb, CLASSIC), s.alpha)
        for s in (make_image(seed, background="spotlight") for seed in SEEDS[:20])
    ]
    assert np.mean([s.iou for s in scores]) >= 0.90


def test_cast_shadow_is_background() -> None:
    """A soft shadow on the floor under the product is cut away, as the real services do."""
    ious, shadow_alpha = [], []
    for seed in SEEDS[:20]:
        sample = make_image(seed, background="shadow")
        alpha = segment(sample.rgb, CLASSIC)
        ious.append(iou(alpha, sample.alpha))
        assert sample.shadow is not None
        under = (sample.shadow > 0.1) & (sample.alpha < 0.01)
        shadow_alpha.append(float(alpha[under].mean()))
    assert np.mean(ious) >= 0.95
    assert np.mean(shadow_alpha) <= 0.1, shadow_alpha


@pytest.mark.parametrize(("background", "product"), [(235, 120), (235, 185), (200, 60)])
def test_grey_product_on_white_is_kept(background: int, product: int) -> None:
    """Same hue and darker than the background, like a shadow, but with a crisp edge: foreground."""
    big = np.zeros((2048, 2048), np.uint8)
    cv2.circle(big, (1024, 1024), 700, 255, -1)
    truth = cv2.resize(big, (512, 512), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    noise = np.random.default_rng(0).normal(0, 2, (512, 512, 3))
    img = truth[..., None] * product + (1 - truth[..., None]) * background + noise
    assert iou(segment(np.clip(img, 0, 255).astype(np.uint8), CLASSIC), truth) >= 0.99


@pytest.mark.xfail(strict=True, reason="documented limit: cluttered photo backgrounds need a neural engine")
def test_cluttered_backgrounds_known_limit() -> None:
    scores = [
        iou(segment(s.rgb, CLASSIC), s.alpha) for s in (make_image(seed, background="clutter") for seed in SEEDS[:10])
    ]
    assert np.mean(scores) >= 0.9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_engine_reports_success_on_a_collapsed_mask(seed: int) -> None:
    """Fruit on a grainy cloth: classic's flood leaks into the subject and it says so (NoForeground,
    Pixelcut's unknown_foreground) rather than return an empty cut-out; auto falls back to u2netp."""
    sample = fruit_on_cloth(seed)
    with pytest.raises(NoForeground):
        segment(sample.rgb, CLASSIC, require_subject=True)
    assert iou(segment(sample.rgb, get_segmenter("auto"), require_subject=True), sample.alpha) >= 0.95


def test_deterministic() -> None:
    rgb = make_image(7).rgb
    assert np.array_equal(segment(rgb), segment(rgb))


def test_plain_image_has_no_subject() -> None:
    flat = np.full((128, 128, 3), 200, np.uint8)
    assert segment(flat).max() == 0.0
    with pytest.raises(NoForeground) as err:
        segment(flat, require_subject=True)
    assert err.value.code == "unknown_foreground"


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(8, 80), st.integers(8, 80), st.just(3))))
def test_any_image_gives_a_valid_matte(rgb: np.ndarray) -> None:
    alpha = ClassicSegmenter().segment(rgb)
    assert alpha.shape == rgb.shape[:2]
    assert alpha.dtype == np.float32
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0


def test_engine_registry() -> None:
    assert get_segmenter("classic").name == "classic"
    assert get_segmenter("auto").name == get_segmenter().name == "auto"
    assert get_segmenter("u2netp").name == "u2netp"
    with pytest.raises(ValueError, match="unknown engine"):
        get_segmenter("u2net")
    with pytest.raises(ValueError):
        segment(np.zeros((10, 10), np.uint8))
