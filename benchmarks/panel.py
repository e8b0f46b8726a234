"""The real-photo panel (fixtures/photos): load it, score engines on it, draw a contact sheet.

Shared by the panel's quality test (tests/engine/test_panel.py) and `make bench`. Each photo has a
reference mask made once, offline (fixtures/photos/SOURCES.md says how).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PANEL_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "photos"


@dataclass(frozen=True)
class Photo:
    name: str
    kind: str  # portrait, people, product, food, animal, street
    rgb: np.ndarray  # HxWx3 uint8
    truth: np.ndarray  # HxW float32 reference alpha


def load_panel(directory: Path = PANEL_DIR) -> list[Photo]:
    """Every photo of panel.json with its reference mask, in the file's order."""
    photos = []
    for entry in json.loads((directory / "panel.json").read_text()):
        name = entry["name"]
        with Image.open(directory / f"{name}.jpg") as image:
            rgb = np.asarray(image.convert("RGB"))
        with Image.open(directory / f"{name}.mask.png") as mask:
            truth = np.asarray(mask.convert("L")).astype(np.float32) / 255
        photos.append(Photo(name, entry["kind"], rgb, truth))
    return photos


def _checkerboard(h: int, w: int, cell: int = 12) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    light = ((ys // cell + xs // cell) % 2).astype(bool)
    return np.where(light[..., None], np.uint8(235), np.uint8(190)).repeat(3, axis=2)


def _over_checkerboard(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = np.clip(alpha, 0, 1)[..., None]
    return np.rint(rgb * a + _checkerboard(*alpha.shape) * (1 - a)).astype(np.uint8)


def contact_sheet(rows: list[tuple[Photo, list[np.ndarray]]], path: Path, height: int = 180) -> Path:
    """A PNG with one row per photo: the original, then each engine's cut-out over a checkerboard."""
    lines = []
    for photo, alphas in rows:
        cells = [photo.rgb] + [_over_checkerboard(photo.rgb, a) for a in alphas]
        scale = height / photo.rgb.shape[0]
        size = (max(1, round(photo.rgb.shape[1] * scale)), height)
        line = np.hstack([cv2.resize(c, size, interpolation=cv2.INTER_AREA) for c in cells])
        lines.append(line)
    width = max(line.shape[1] for line in lines)
    sheet = np.vstack(
        [np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    )
    Image.fromarray(sheet).save(path, optimize=True)
    return path
