"""PixelAPI operations and generation: real outputs of the promised type, size and content."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from mockserver.engine import generate, imageops
from mockserver.engine.codecs import read_rgba
from mockserver.engine.errors import InvalidOption, NoForeground, ResolutionTooHigh
from mockserver.engine.metrics import iou
from mockserver.engine.synth import make_image


def test_upscale_is_a_true_4x_resample() -> None:
    rgb = make_image(3, (96, 128)).rgb
    big = imageops.upscale4x(rgb)
    assert big.shape == (384, 512, 3)
    back = cv2.resize(big, (128, 96), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - rgb).mean() < 4
    with pytest.raises(ResolutionTooHigh):
        imageops.upscale4x(np.zeros((10, 2049, 3), np.uint8))


def _smooth_with_square() -> np.ndarray:
    yy, xx = np.mgrid[0:200, 0:200]
    rgb = np.dstack([xx / 200 * 200, yy / 200 * 200, np.full_like(xx, 100)]).astype(np.uint8)
    rgb[150:180, 150:180] = (255, 0, 0)  # the "watermark" in the bottom right corner
    return rgb


def test_remove_object_with_a_mask_inpaints_only_the_mask() -> None:
    rgb = _smooth_with_square()
    mask = np.zeros((100, 100), np.uint8)  # half size: resized to the image
    mask[72:93, 72:93] = 255
    out = imageops.remove_object(rgb, mask=mask)
    assert (out[:140, :140] == rgb[:140, :140]).all()
    patch = out[155:175, 155:175].astype(int)
    assert patch[..., 0].mean() < 220 and patch[..., 1].mean() > 120, "red square still there"


def test_remove_object_by_prompt() -> None:
    rgb = _smooth_with_square()
    out = imageops.remove_object(rgb, prompt="remove the watermark in the bottom right corner")
    assert out[160:170, 160:170, 1].mean() > 120 and (out[:100, :100] == rgb[:100, :100]).all()
    region = imageops.region_from_prompt("the cat on the top left", 100, 100)
    assert region[5, 5] == 255 and region[95, 95] == 0
    np.testing.assert_array_equal(
        imageops.region_from_prompt("a lamp", 50, 50), imageops.region_from_prompt("a lamp", 50, 50)
    )
    with pytest.raises(InvalidOption):
        imageops.remove_object(rgb)


def test_replace_background_keeps_the_subject() -> None:
    sample = make_image(1004, (256, 256), background="solid")
    out = imageops.replace_background(sample.rgb, "product on marble, soft light", seed=1)
    inside, outside = sample.alpha > 0.99, sample.alpha < 0.01
    assert np.abs(out[inside].astype(int) - sample.rgb[inside]).mean() < 3
    assert np.abs(out[outside].astype(int) - sample.rgb[outside]).mean() > 10
    with pytest.raises(NoForeground):
        imageops.replace_background(np.full((128, 128, 3), 90, np.uint8), "beach")


def test_restore_face_works_on_the_face() -> None:
    rgb = np.full((240, 200, 3), (60, 90, 160), np.uint8)
    cv2.ellipse(rgb, (100, 110), (45, 60), 0, 0, 360, (210, 160, 130), -1)  # a skin-toned face
    rgb = np.clip(rgb + np.random.default_rng(0).normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    out = imageops.restore_face(rgb)
    face_change = np.abs(out[80:140, 80:120].astype(int) - rgb[80:140, 80:120]).mean()
    corner_change = np.abs(out[:30, :30].astype(int) - rgb[:30, :30]).mean()
    assert face_change > 2 * corner_change, (face_change, corner_change)


def test_restore_face_changes_detail_not_size() -> None:
    rgb = make_image(2, (160, 120)).rgb
    out = imageops.restore_face(rgb)
    assert out.shape == rgb.shape and not np.array_equal(out, rgb)
    assert np.abs(out.astype(int) - rgb).mean() < 10


class TestTryOn:
    def _person(self) -> np.ndarray:
        person = np.full((400, 240, 3), 235, np.uint8)
        cv2.ellipse(person, (120, 60), (35, 45), 0, 0, 360, (200, 160, 140), -1)  # head
        cv2.rectangle(person, (60, 100), (180, 390), (90, 90, 200), -1)  # body
        return person

    def _garment(self) -> np.ndarray:
        garment = np.full((200, 200, 3), 245, np.uint8)
        cv2.rectangle(garment, (40, 30), (160, 170), (20, 170, 40), -1)
        return garment

    def test_garment_lands_on_the_torso(self) -> None:
        out = imageops.virtual_tryon(self._person(), self._garment(), "upperbody")
        torso = out[180:250, 80:160].reshape(-1, 3).mean(axis=0)
        assert torso[1] > 140 and torso[2] < 90, "garment colour is not on the torso"
        assert (out[:20] == self._person()[:20]).all() and (out[:, :50] == self._person()[:, :50]).all()

    @pytest.mark.parametrize(
        ("person", "category", "code"),
        [
            (None, "hat", "invalid_category"),
            (np.full((80, 60, 3), 200, np.uint8), "dress", "image_too_small"),
            (np.full((200, 300, 3), 200, np.uint8), "dress", "wrong_aspect_ratio"),
            (np.full((300, 200, 3), 200, np.uint8), "dress", "body_segmentation_failed"),
        ],
    )
    def test_errors(self, person: np.ndarray | None, category: str, code: str) -> None:
        with pytest.raises(imageops.TryOnError) as err:
            imageops.virtual_tryon(self._person() if person is None else person, self._garment(), category)
        assert err.value.code == code


class TestGenerate:
    def test_image_size_and_determinism(self) -> None:
        a = generate.generate_image("red sunset over the ocean", 640, 512, steps=4, seed=7)
        assert a.shape == (512, 640, 3)
        np.testing.assert_array_equal(
            a, generate.generate_image("red sunset over the ocean", 640, 512, steps=4, seed=7)
        )
        assert not np.array_equal(a, generate.generate_image("red sunset over the ocean", 640, 512, steps=4, seed=8))
        assert not np.array_equal(a, generate.generate_image("a green forest", 640, 512, steps=4, seed=7))

    def test_colour_words_steer_the_palette(self) -> None:
        blue = generate.scene("blue blue blue", 64, 64, seed=1).reshape(-1, 3).mean(axis=0)
        red = generate.scene("red red red", 64, 64, seed=1).reshape(-1, 3).mean(axis=0)
        assert blue[2] > blue[0] and red[0] > red[2]

    @pytest.mark.parametrize("seconds", [5, 12])
    def test_audio_is_a_wav_of_the_duration(self, seconds: int) -> None:
        data = generate.generate_audio("calm lofi beat", seconds, seed=3)
        with wave.open(io.BytesIO(data)) as wav:
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
            assert wav.getnframes() == seconds * wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
        assert np.abs(pcm).max() > 10000, "silent"
        assert data == generate.generate_audio("calm lofi beat", seconds, seed=3)

    def test_video_is_16fps_mp4(self, tmp_path: Path) -> None:
        path = tmp_path / "v.mp4"
        frames = generate.generate_video("drone shot over mountains", 1.5, 832, 480, path, seed=2)
        assert frames == 24
        decoded = list(read_rgba(path))
        assert len(decoded) == 24 and decoded[0].shape == (480, 832, 4)
        assert not np.array_equal(decoded[0], decoded[-1]), "the camera does not move"


def test_onnx_engine_with_a_generated_model(tmp_path: Path) -> None:
    """A user-supplied model path, exercised with a tiny model built here (nothing downloaded)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from mockserver.engine.segment import get_segmenter

    size = 64
    # saliency = sigmoid(k * |x - x[top-left]|^2 - b): distance to the corner (background) colour.
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["corner"]),
        helper.make_node("Sub", ["x", "corner"], ["diff"]),
        helper.make_node("Mul", ["diff", "diff"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "channel"], ["dist"], keepdims=1),
        helper.make_node("Mul", ["dist", "k"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["y"]),
    ]
    const = [
        helper.make_tensor("starts", TensorProto.INT64, [2], [0, 0]),
        helper.make_tensor("ends", TensorProto.INT64, [2], [1, 1]),
        helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
        helper.make_tensor("channel", TensorProto.INT64, [1], [1]),
        helper.make_tensor("k", TensorProto.FLOAT, [], [20.0]),
        helper.make_tensor("b", TensorProto.FLOAT, [], [4.0]),
    ]
    graph = helper.make_graph(
        nodes,
        "toy-saliency",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, size, size])],
        const,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "toy.onnx"
    onnx.save(model, str(path))

    engine = get_segmenter(f"onnx:{path}")
    assert engine.size == size  # read from the model's fixed input shape
    sample = make_image(1004, (256, 256), background="solid")
    alpha = engine.segment(sample.rgb)
    assert alpha.shape == (256, 256) and alpha.dtype == np.float32
    assert iou(alpha, sample.alpha) >= 0.9
    with pytest.raises(FileNotFoundError):
        get_segmenter(f"onnx:{tmp_path / 'missing.onnx'}")
