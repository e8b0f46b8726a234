"""The default engine on real photographs (fixtures/photos: portraits, people, products, food,
animals, a street scene), scored against reference masks made offline (SOURCES.md there)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.panel import Photo, load_panel
from mockserver.engine.metrics import iou
from mockserver.engine.segment import get_segmenter

PANEL = load_panel()


def test_the_panel_covers_what_users_send() -> None:
    assert len(PANEL) >= 15
    assert {p.kind for p in PANEL} >= {"portrait", "people", "product", "food", "animal", "street"}
    for photo in PANEL:
        assert photo.rgb.shape[:2] == photo.truth.shape
        assert 0.02 < float((photo.truth > 0.5).mean()) < 0.95, photo.name


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, float]]:
    engines = {name: get_segmenter(name) for name in ("classic", "auto")}
    return {p.name: {n: iou(e.segment(p.rgb), p.truth) for n, e in engines.items()} for p in PANEL}


def test_auto_cuts_out_real_photos(scores: dict[str, dict[str, float]]) -> None:
    auto = {name: s["auto"] for name, s in scores.items()}
    assert np.mean(list(auto.values())) >= 0.90, auto
    assert min(auto.values()) >= 0.75, auto


@pytest.mark.parametrize("photo", PANEL, ids=[p.name for p in PANEL])
def test_auto_is_never_worse_than_classic(photo: Photo, scores: dict[str, dict[str, float]]) -> None:
    assert scores[photo.name]["auto"] >= scores[photo.name]["classic"] - 0.02, scores[photo.name]
