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

from mockserver.engine.codecs import FORMATS
from mockserver.engine.compose import TRANSPARENT, Background
from mockserver.engine.metrics import MatteScore
from mockserver.engine.segment import segment
from mockserver.engine.synth import BACKGROUNDS, PLAIN, Clip, make_image
from mockserver.engine.video import process_video

Table = tuple[list[str], list[list[str]]]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def image_quality(per_kind: int = 15) -> Table:
    rows = []
    for size in ((512, 512), (720, 1280)):
        for kind in BACKGROUNDS:
            scores, times = [], []
            for seed in range(1000, 1000 + per_kind):
                sample = make_image(seed, size, background=kind)
                start = time.perf_counter()
                alpha = segment(sample.rgb)
                times.append((time.perf_counter() - start) * 1000)
                scores.append(MatteScore.of(alpha, sample.alpha))
            ious = [s.iou for s in scores]
            rows.append(
                [
                    f"{size[1]}x{size[0]}",
                    kind + ("" if kind in PLAIN else " *"),
                    f"{statistics.mean(ious):.4f}",
                    f"{min(ious):.3f}",
                    f"{statistics.mean(s.mae for s in scores) * 1e3:.2f}",
                    f"{statistics.mean(s.edge_mae for s in scores) * 1e3:.1f}",
                    f"{statistics.median(times):.1f}",
                    f"{_pct(times, 90):.1f}",
                ]
            )
    header = ["size", "background", "IoU mean", "IoU worst", "MAE e-3", "edge MAE e-3", "ms median", "ms p90"]
    return header, rows


def video_speed(seconds: int = 5) -> Table:
    """fps end to end, and the ratio to decode + encode with segmentation skipped."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Clip(seed=11, size=(720, 1280), n_frames=30 * seconds, background="gradient")
        src = clip.write(Path(tmp) / "in.mp4")
        for name, background in (("webm_vp9", TRANSPARENT), ("mp4_h264", Background((0, 255, 0)))):
            fps = {}
            for mode in (False, True):
                start = time.perf_counter()
                stats = process_video(src, Path(tmp) / f"out.{name}", FORMATS[name], background, segment=mode)
                fps[mode] = stats.frames / (time.perf_counter() - start)
            rows.append(
                [
                    name,
                    "1280x720",
                    str(clip.n_frames),
                    f"{fps[True]:.1f}",
                    f"{fps[False]:.1f}",
                    f"{fps[True] / fps[False]:.2f}",
                ]
            )
    return ["format", "size", "frames", "fps end to end", "fps decode+encode only", "ratio"], rows


_RSS_CHILD = """
import json, resource, sys, tempfile, cv2
from pathlib import Path
cv2.setNumThreads(1)
from mockserver.engine.codecs import FORMATS
from mockserver.engine.compose import TRANSPARENT
from mockserver.engine.synth import Clip
from mockserver.engine.video import process_video
src, frames = sys.argv[1], int(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    stats = process_video(src, Path(tmp) / "o.webm", FORMATS["webm_vp9"], TRANSPARENT)
print(json.dumps({"frames": stats.frames, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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
        ("Engine: image quality and speed (one thread; * = not a plain background)", image_quality()),
        ("Engine: video throughput (one segmentation thread, pipelined with the codecs)", video_speed()),
        ("Engine: memory against clip length (webm_vp9, transparent)", memory_vs_length()),
    ]
