"""Engine figures: image quality and speed, video fps against the codec-only limit, memory vs length.

One thread everywhere (cv2.setNumThreads(1), codec defaults), as the research figures and the gates.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.panel import contact_sheet, load_panel
from mockserver.engine.codecs import FORMATS
from mockserver.engine.compose import TRANSPARENT, Background
from mockserver.engine.metrics import MatteScore
from mockserver.engine.segment import get_segmenter
from mockserver.engine.synth import BACKGROUNDS, PLAIN, Clip, make_image
from mockserver.engine.video import DEFAULT_MODE, VIDEO_MODES, process_video

Table = tuple[list[str], list[list[str]]]


def peak_rss_mib() -> float:
    """This process's peak resident memory since its exec, in MiB: VmHWM, not ru_maxrss, which Linux
    carries over from the parent through fork and exec (every child of the bench read its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


ENGINES = ("classic", "u2netp", "auto")


def image_quality(per_kind: int = 10) -> Table:
    """Each engine on the synthetic sets (512x512): IoU, MAE, edge MAE and ms, one thread."""
    rows = []
    for kind in BACKGROUNDS:
        samples = [make_image(seed, (512, 512), background=kind) for seed in range(1000, 1000 + per_kind)]
        for name in ENGINES:
            engine = get_segmenter(name)
            scores, times = [], []
            for sample in samples:
                start = time.perf_counter()
                alpha = engine.segment(sample.rgb)
                times.append((time.perf_counter() - start) * 1000)
                scores.append(MatteScore.of(alpha, sample.alpha))
            ious = [s.iou for s in scores]
            rows.append(
                [
                    kind + ("" if kind in PLAIN else " *"),
                    name,
                    f"{statistics.mean(ious):.4f}",
                    f"{min(ious):.3f}",
                    f"{statistics.mean(s.mae for s in scores) * 1e3:.2f}",
                    f"{statistics.mean(s.edge_mae for s in scores) * 1e3:.1f}",
                    f"{statistics.median(times):.1f}",
                ]
            )
    header = ["background", "engine", "IoU mean", "IoU worst", "MAE e-3", "edge MAE e-3", "ms median"]
    return header, rows


_PANEL_CHILD = """
import json, sys, time, cv2
from benchmarks.engine import peak_rss_mib
cv2.setNumThreads(1)
from benchmarks.panel import load_panel
from mockserver.engine.metrics import iou
from mockserver.engine.segment import get_segmenter
engine = get_segmenter(sys.argv[1])
ious, times = [], []
for photo in load_panel():
    ious.append(iou(engine.segment(photo.rgb), photo.truth))
    h, w = photo.rgb.shape[:2]
    square = cv2.resize(photo.rgb, (512, 512), interpolation=cv2.INTER_AREA)
    engine.segment(square)
    start = time.perf_counter()
    engine.segment(square)
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps({"ious": ious, "ms": times, "rss_mib": peak_rss_mib()}))
"""


CONTACT_SHEET = Path(__file__).with_name("panel-contact-sheet.png")


def photo_panel(sheet: Path = CONTACT_SHEET) -> Table:
    """The real-photo panel per engine (IoU against the references; ms per photo resized to 512²; each
    engine in a process of its own for its peak RSS), and the contact sheet original | classic | auto."""
    rows = []
    for name in ENGINES:
        out = subprocess.run([sys.executable, "-c", _PANEL_CHILD, name], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout)
        ious, times = result["ious"], result["ms"]
        rows.append(
            [
                name,
                str(len(ious)),
                f"{statistics.mean(ious):.3f}",
                f"{min(ious):.3f}",
                str(sum(i >= 0.9 for i in ious)),
                f"{statistics.median(times):.0f}",
                f"{_pct(times, 90):.0f}",
                f"{result['rss_mib']:.0f}",
            ]
        )
    photos = load_panel()
    engines = [get_segmenter("classic"), get_segmenter("auto")]
    contact_sheet([(p, [e.segment(p.rgb) for e in engines]) for p in photos], sheet)
    header = [
        "engine",
        "photos",
        "IoU mean",
        "IoU worst",
        "photos >= 0.90",
        "ms median (512²)",
        "ms p90",
        "peak RSS MiB",
    ]
    return header, rows


def video_speed(seconds: int = 5) -> Table:
    """fps end to end per video mode, and its ratio to decode + encode with segmentation skipped,
    measured beside it in the same round (720p, 30 fps; the neural mode on the first second only)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Clip(seed=11, size=(720, 1280), n_frames=30 * seconds, background="gradient")
        src = clip.write(Path(tmp) / "in.mp4")
        runs = [("webm_vp9", TRANSPARENT, mode) for mode in VIDEO_MODES] + [
            ("mp4_h264", Background((0, 255, 0)), DEFAULT_MODE)
        ]
        for name, background, mode in runs:
            frames = 30 if mode == "neural" else None
            fps = {}
            for segment in (False, True):
                start = time.perf_counter()
                stats = process_video(
                    src,
                    Path(tmp) / f"out.{name}",
                    FORMATS[name],
                    background,
                    mode=mode,
                    segment=segment,
                    max_frames=frames,
                )
                fps[segment] = stats.frames / (time.perf_counter() - start)
            rows.append(
                [
                    name,
                    mode + (" (default)" if mode == DEFAULT_MODE else ""),
                    str(stats.frames),
                    f"{fps[True]:.1f}",
                    f"{fps[False]:.1f}",
                    f"{fps[True] / fps[False]:.2f}",
                    f"{30 / fps[True]:.1f}",
                ]
            )
    header = ["format", "mode", "frames", "fps end to end", "fps decode+encode only", "ratio", "s per s of video"]
    return header, rows


_RSS_CHILD = """
import json, sys, tempfile, cv2
from benchmarks.engine import peak_rss_mib
from pathlib import Path
cv2.setNumThreads(1)
from mockserver.engine.codecs import FORMATS
from mockserver.engine.compose import TRANSPARENT
from mockserver.engine.synth import Clip
from mockserver.engine.video import DEFAULT_MODE, VIDEO_MODES, process_video
src, frames = sys.argv[1], int(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    stats = process_video(src, Path(tmp) / "o.webm", FORMATS["webm_vp9"], TRANSPARENT)
print(json.dumps({"frames": stats.frames, "rss_mib": peak_rss_mib()}))
"""


def memory_vs_length() -> Table:
    """Peak RSS of the whole process for a 5 s and a 60 s clip: it must not grow with length."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in (5, 60):
            clip = Clip(seed=12, size=(360, 640), n_frames=30 * seconds)
            src = clip.write(Path(tmp) / f"in{seconds}.mp4")
            out = subprocess.run(
                [sys.executable, "-c", _RSS_CHILD, str(src), str(clip.n_frames)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout)
            rows.append([f"{seconds} s", "640x360", str(result["frames"]), f"{result['rss_mib']:.0f}"])
    return ["clip", "size", "frames", "peak RSS MiB"], rows


def run() -> list[tuple[str, Table]]:
    cv2.setNumThreads(1)
    return [
        ("Engine: synthetic images per engine (512x512, one thread; * = not a plain background)", image_quality()),
        (
            "Engine: real-photo panel per engine (fixtures/photos; contact sheet benchmarks/panel-contact-sheet.png)",
            photo_panel(),
        ),
        (
            "Engine: video throughput per mode (720p; segmentation and compositing pipelined with the codecs)",
            video_speed(),
        ),
        ("Engine: memory against clip length (webm_vp9, transparent)", memory_vs_length()),
    ]
