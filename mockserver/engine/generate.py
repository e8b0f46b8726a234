"""Procedural "generation": deterministic images, audio and video from a prompt and a seed.

The mock is not a diffusion model. What a client needs from PixelAPI's generate endpoints is a real
file of the promised type, size and duration that changes with the prompt and repeats with the seed,
so that decoding, storage and display code paths run for real. Colour words in the prompt pick the
palette; everything else feeds a stable hash.
"""

from __future__ import annotations

import hashlib
import io
import wave
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from mockserver.engine.codecs import FORMATS, VideoWriter

_WORD_COLOURS = {
    "red": (200, 40, 40),
    "orange": (235, 130, 30),
    "yellow": (240, 210, 60),
    "gold": (212, 175, 55),
    "green": (60, 160, 70),
    "forest": (34, 100, 50),
    "blue": (50, 90, 200),
    "sky": (120, 180, 235),
    "ocean": (20, 90, 150),
    "purple": (120, 60, 160),
    "pink": (235, 140, 180),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "marble": (225, 222, 215),
    "wood": (140, 95, 55),
    "wooden": (140, 95, 55),
    "sunset": (250, 120, 70),
    "night": (20, 25, 60),
    "snow": (245, 248, 255),
    "sand": (220, 195, 150),
    "beach": (230, 205, 160),
    "concrete": (150, 150, 145),
}


def prompt_rng(prompt: str, seed: int | None = None) -> np.random.Generator:
    """A generator that depends on the prompt and the seed only (stable across runs and machines)."""
    digest = hashlib.sha256(f"{prompt}\x00{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _palette(prompt: str, rng: np.random.Generator) -> np.ndarray:
    words = [w.strip(".,!?;:").lower() for w in prompt.split()]
    named = [_WORD_COLOURS[w] for w in words if w in _WORD_COLOURS]
    colours = [np.array(c, np.float32) for c in named[:3]]
    while len(colours) < 3:
        colours.append(rng.uniform(30, 230, 3).astype(np.float32))
    return np.stack(colours)


def scene(prompt: str, width: int, height: int, seed: int | None = None, detail: int = 4) -> np.ndarray:
    """An RGB scene: a two-colour sky/floor split, soft noise layers and a few blurred shapes."""
    rng = prompt_rng(prompt, seed)
    palette = _palette(prompt, rng)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    horizon = rng.uniform(0.45, 0.75)
    t = np.clip((yy - horizon) * 8 + 0.5, 0, 1)
    img = palette[0] * (1 - t) + palette[1] * t
    img = np.broadcast_to(img, (height, width, 3)).copy()
    for octave in range(max(1, detail)):
        cells = 3 * 2**octave
        grid = rng.random((cells, cells, 3)).astype(np.float32)
        img += (cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) - 0.5) * 40 / (octave + 1)
    for _ in range(int(rng.integers(3, 7))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(width // 20, width // 5)), int(rng.integers(height // 20, height // 5)))
        layer = np.zeros((height, width, 3), np.float32)
        cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, palette[2].tolist(), -1)
        weight = cv2.GaussianBlur((layer.sum(axis=2) > 0).astype(np.float32), (0, 0), max(2.0, width / 100))
        img = img * (1 - 0.6 * weight[..., None]) + layer * 0.6 * weight[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_image(prompt: str, width: int, height: int, steps: int, seed: int | None = None) -> np.ndarray:
    """Text-to-image: more steps means more octaves of detail, as a visible stand-in for quality."""
    return scene(prompt, width, height, seed, detail=2 + min(steps, 50) // 8)


def generate_audio(prompt: str, seconds: float, seed: int | None = None, rate: int = 32000) -> bytes:
    """A WAV (mono, 16-bit) melody: tempo, scale and timbre from the prompt, notes from the seed."""
    rng = prompt_rng(prompt, seed)
    bpm = float(rng.uniform(70, 140))
    beat = 60.0 / bpm
    root = 220.0 * 2 ** (int(rng.integers(0, 12)) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12]) if rng.random() < 0.5 else np.array([0, 3, 5, 7, 10, 12, 15])
    n = int(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    signal = np.zeros(n)
    for start in np.arange(0, seconds, beat / 2):
        i0, i1 = int(start * rate), min(n, int((start + beat / 2) * rate))
        freq = root * 2 ** (scale[int(rng.integers(0, len(scale)))] / 12)
        seg = t[i0:i1] - start
        envelope = np.exp(-seg * 6)
        signal[i0:i1] += 0.4 * envelope * (np.sin(2 * np.pi * freq * seg) + 0.3 * np.sin(4 * np.pi * freq * seg))
    for start in np.arange(0, seconds, beat):  # a soft kick on every beat
        i0, i1 = int(start * rate), min(n, int((start + 0.12) * rate))
        seg = t[i0:i1] - start
        signal[i0:i1] += 0.5 * np.exp(-seg * 30) * np.sin(2 * np.pi * 60 * seg)
    pcm = np.int16(np.clip(signal / max(1.0, float(np.abs(signal).max())), -1, 1) * 32000)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return out.getvalue()


def generate_video(prompt: str, seconds: float, width: int, height: int, path: Path, seed: int | None = None) -> int:
    """An MP4 (H.264, 16 fps) slow push-in over the prompt's scene; returns the frame count."""
    fps = 16
    base = scene(prompt, width + width // 4, height + height // 4, seed)
    frames = max(1, round(seconds * fps))
    # A synthetic camera move compresses easily: x264's fastest preset loses little and saves most.
    with VideoWriter(path, FORMATS["mp4_h264"], width, height, Fraction(fps), {"preset": "ultrafast"}) as writer:
        for i in range(frames):
            zoom = 1 + 0.2 * i / max(frames - 1, 1)
            m = cv2.getRotationMatrix2D((base.shape[1] / 2, base.shape[0] / 2), 0, zoom)
            m[:, 2] -= ((base.shape[1] - width) / 2, (base.shape[0] - height) / 2)
            frame = cv2.warpAffine(base, m, (width, height), borderMode=cv2.BORDER_REFLECT)
            writer.write(frame)
    return frames
