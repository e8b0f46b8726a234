"""Inputs: every way a URL or a file can be bad gives its typed error, never a crash or a hang; every
image mode, bit depth, transparency, ICC profile and orientation comes out as the sRGB the user saw."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from mockserver.engine import errors, inputs, pictures
from mockserver.engine.synth import Clip
from tests import image_files as files


def _png(w: int, h: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (w, h), (120, 30, 200) if mode == "RGB" else (120, 30, 200, 0)).save(out, "PNG")
    return out.getvalue()


PNG = _png(80, 70)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routes = {
            "/ok.png": lambda: self._send(200, PNG),
            "/missing": lambda: self._send(404, b"nope"),
            "/big": self._big,
            "/slow": self._slow,
            "/to-ok": lambda: self._redirect("/ok.png"),
            "/to-metadata": lambda: self._redirect("http://169.254.169.254/latest/meta-data"),
            "/loop": lambda: self._redirect("/loop"),
        }
        routes.get(self.path, lambda: self._send(404, b""))()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _big(self) -> None:  # no Content-Length: the limit must hold while streaming
        self.send_response(200)
        self.end_headers()
        try:
            for _ in range(64):
                self.wfile.write(b"\0" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _slow(self) -> None:
        time.sleep(1.5)
        self._send(200, PNG)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _fetch(url: str, **policy: object) -> bytes:
    return asyncio.run(inputs.fetch(url, inputs.FetchPolicy(**policy)))  # type: ignore[arg-type]


class TestFetch:
    def test_ok_and_redirect(self, server: str) -> None:
        assert _fetch(f"{server}/ok.png") == PNG
        assert _fetch(f"{server}/to-ok") == PNG

    def test_http_error(self, server: str) -> None:
        with pytest.raises(errors.FetchError, match="404"):
            _fetch(f"{server}/missing")

    def test_size_limit_while_streaming(self, server: str) -> None:
        with pytest.raises(errors.FileTooLarge):
            _fetch(f"{server}/big", max_bytes=100_000)

    def test_time_limit(self, server: str) -> None:
        with pytest.raises(errors.FetchTimeout):
            _fetch(f"{server}/slow", timeout=0.3)

    def test_redirect_to_metadata_is_refused(self, server: str) -> None:
        with pytest.raises(errors.ForbiddenAddress):
            _fetch(f"{server}/to-metadata")

    def test_redirect_loop(self, server: str) -> None:
        with pytest.raises(errors.FetchError, match="redirects"):
            _fetch(f"{server}/loop")

    @pytest.mark.parametrize("url", ["http://10.1.2.3/x.png", "http://192.168.0.1/x.png", "http://169.254.169.254/"])
    def test_private_and_metadata_refused_before_any_traffic(self, url: str) -> None:
        with pytest.raises(errors.ForbiddenAddress):
            _fetch(url, timeout=1)

    @pytest.mark.parametrize(
        "url", ["http://u:p@127.0.0.1\t/x", "http://127.0.0.1/\x00", "http://127.0.0.1/" + "a" * 9000, "ftp://x/y"]
    )
    def test_bad_urls_are_refused_before_any_traffic(self, url: str) -> None:
        with pytest.raises(errors.FetchError):
            _fetch(url, timeout=1)

    def test_credentials_in_urls_are_never_forwarded(self) -> None:
        assert inputs.clean_url("https://user:secret@cdn.example/x.png?a=1") == "https://cdn.example/x.png?a=1"
        assert inputs.clean_url("https://cdn.example/x.png") == "https://cdn.example/x.png"

    def test_unreachable(self) -> None:
        with pytest.raises(errors.FetchError):
            _fetch("http://127.0.0.1:9/x.png", timeout=2)  # discard port: nothing listens
        with pytest.raises(errors.FetchError, match="resolve"):
            _fetch("http://no-such-host.invalid/x.png", timeout=2)

    def test_schemes(self) -> None:
        with pytest.raises(errors.FetchError, match="unsupported URL"):
            _fetch("ftp://example.com/x.png")
        import base64

        assert _fetch("data:image/png;base64," + base64.b64encode(PNG).decode()) == PNG


def _png_bomb(w: int, h: int) -> bytes:
    """A well-formed PNG that claims w x h pixels in a few bytes (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    )


class TestImages:
    def test_valid(self) -> None:
        rgb = inputs.load_image(PNG)
        assert rgb.shape == (70, 80, 3) and rgb.dtype == np.uint8 and tuple(rgb[0, 0]) == (120, 30, 200)

    def test_transparency_is_flattened_on_white(self) -> None:
        assert tuple(inputs.load_image(_png(80, 70, "RGBA"))[0, 0]) == (255, 255, 255)

    def test_exif_orientation_is_applied(self) -> None:
        out = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise on display
        Image.new("RGB", (120, 80)).save(out, "JPEG", exif=exif)
        assert inputs.load_image(out.getvalue()).shape == (120, 80, 3)

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            (b"", errors.EmptyFile),
            (b"not an image at all", errors.MalformedImage),
            (PNG[: len(PNG) // 2], errors.MalformedImage),
            (_png(80, 70)[:60] + b"\0" * 40, errors.MalformedImage),
            (_png(6001, 64), errors.ResolutionTooHigh),
            (_png(63, 100), errors.ResolutionTooLow),
            (_png_bomb(30000, 30000), errors.ResolutionTooHigh),
        ],
    )
    def test_bad_images(self, data: bytes, error: type[errors.MediaError]) -> None:
        with pytest.raises(error):
            inputs.load_image(data)

    def test_format_and_size_limits(self) -> None:
        gif = io.BytesIO()
        Image.new("RGB", (80, 80)).save(gif, "GIF")
        with pytest.raises(errors.UnsupportedImageFormat) as err:
            inputs.load_image(gif.getvalue())
        assert err.value.code == "unsupported_image_format"
        with pytest.raises(errors.FileTooLarge) as too_big:
            inputs.load_image(PNG, inputs.ImageLimits(max_bytes=100))
        assert too_big.value.code == "file_size_too_large"


def _rounded16(values: np.ndarray) -> np.ndarray:
    """The expected 8-bit value of 16-bit samples: v / 257 rounded (exact: never a tie)."""
    return np.rint(values / 257).astype(np.uint8)


# Every 16-bit value once: 256 x 256.
RAMP16 = np.arange(65536, dtype=np.uint16).reshape(256, 256)


class TestBitDepth:
    def test_16_bit_rgb_and_rgba_png_are_scaled_not_truncated(self) -> None:
        rgb16 = np.dstack([RAMP16, RAMP16[::-1], RAMP16.T])
        picture = inputs.load_picture(files.png16(rgb16))
        assert picture.alpha is None
        assert (picture.rgb == _rounded16(rgb16)).all()
        assert not (picture.rgb == (rgb16 >> 8)).all(), "the high byte alone is truncation"
        rgba16 = np.dstack([rgb16, RAMP16[:, ::-1]])
        picture = inputs.load_picture(files.png16(rgba16))
        assert (picture.rgb == _rounded16(rgb16)).all()
        assert picture.alpha is not None
        assert np.abs(picture.alpha - RAMP16[:, ::-1] / 65535).max() < 1e-6

    def test_16_bit_grey_and_grey_alpha_png(self) -> None:
        grey = inputs.load_picture(files.png(RAMP16, 0, 16))
        assert grey.alpha is None and (grey.rgb == _rounded16(RAMP16)[..., None]).all()
        grey_alpha = inputs.load_picture(files.png(np.dstack([RAMP16, RAMP16.T]), 4, 16))
        assert (grey_alpha.rgb == _rounded16(RAMP16)[..., None]).all()
        assert grey_alpha.alpha is not None and np.abs(grey_alpha.alpha - RAMP16.T / 65535).max() < 1e-6

    def test_16_bit_colour_keys_are_matched_at_16_bits(self) -> None:
        samples = np.full((64, 64), 1000, np.uint16)
        samples[:, 32:] = 1001  # the same 8-bit value (4) but not the key
        rgb = inputs.load_picture(files.png(np.dstack([samples] * 3), 2, 16, (files.trns(1000, 1000, 1000),)))
        grey = inputs.load_picture(files.png(samples, 0, 16, (files.trns(1000),)))
        for picture in (rgb, grey):
            assert picture.alpha is not None
            assert (picture.alpha[:, :32] == 0).all() and (picture.alpha[:, 32:] == 1).all()
            assert (picture.rgb == 4).all()

    @pytest.mark.parametrize(("depth", "packed", "key", "grey"), [(1, 0b01010101, 1, 255), (2, 0b00011011, 3, 255)])
    def test_low_bit_grey_keys(self, depth: int, packed: int, key: int, grey: int) -> None:
        """Pillow scales 1..4-bit grey pixels to 8 bits but not their tRNS key."""
        data = files.png(np.full((64, 64 * depth // 8), packed, np.uint8), 0, depth, (files.trns(key),))
        picture = inputs.load_picture(data)
        assert picture.alpha is not None
        transparent = picture.alpha == 0
        assert transparent.any() and (picture.rgb[transparent] == grey).all()
        assert (picture.rgb[~transparent] != grey).all()


def _image(mode: str, value: object, palette: list[int] | None = None, **info: object) -> Image.Image:
    image = Image.new(mode, (64, 64), value)  # type: ignore[arg-type]
    if palette is not None:
        image.putpalette(palette)
    image.info.update(info)
    return image


NAN = float("nan")


class TestModes:
    """Every Pillow mode: the sRGB colour and the alpha that come out (None: opaque)."""

    @pytest.mark.parametrize(
        ("image", "rgb", "alpha"),
        [
            (_image("1", 1), (255, 255, 255), None),
            (_image("L", 77), (77, 77, 77), None),
            (_image("L", 77, transparency=77), (77, 77, 77), 0),
            (_image("LA", (77, 128)), (77, 77, 77), 128),
            (_image("La", (38, 128)), (76, 76, 76), 128),  # premultiplied: 38 * 255 / 128
            (_image("P", 1, [0, 0, 0, 10, 20, 30]), (10, 20, 30), None),
            (_image("P", 1, [0, 0, 0, 10, 20, 30], transparency=1), (10, 20, 30), 0),
            (_image("P", 1, [0, 0, 0, 10, 20, 30], transparency=b"\xff\x40"), (10, 20, 30), 0x40),
            (_image("PA", (1, 100), [0, 0, 0, 10, 20, 30]), (10, 20, 30), 100),
            (_image("I;16", 1000), (4, 4, 4), None),  # 1000 / 257 = 3.9
            (_image("I;16B", 65280), (254, 254, 254), None),  # the high byte would say 255
            (_image("I;16L", 255), (1, 1, 1), None),  # the high byte would say 0
            (_image("I", 33000), (128, 128, 128), None),  # I: the 16-bit scale
            (_image("I", 70000), (255, 255, 255), None),
            (_image("I", -5), (0, 0, 0), None),
            (_image("F", 0.5), (128, 128, 128), None),  # F: 0.0 black, 1.0 white
            (_image("F", 2.0), (255, 255, 255), None),
            (_image("F", -1.0), (0, 0, 0), None),
            (_image("F", NAN), (0, 0, 0), None),
            (_image("RGB", (1, 2, 3)), (1, 2, 3), None),
            (_image("RGB", (1, 2, 3), transparency=(1, 2, 3)), (1, 2, 3), 0),
            (_image("RGBA", (1, 2, 3, 4)), (1, 2, 3), 4),
            (_image("RGBA", (1, 2, 3, 255)), (1, 2, 3), None),  # opaque everywhere: no alpha
            (_image("RGBa", (2, 4, 6, 128)), (4, 8, 12), 128),
            (_image("RGBX", (1, 2, 3, 0)), (1, 2, 3), None),
            (_image("CMYK", (30, 200, 60, 20)), files.naive_cmyk_to_rgb((30, 200, 60, 20)), None),
            (_image("YCbCr", (81, 90, 240)), (238, 14, 13), None),
            (_image("HSV", (0, 255, 255)), (255, 0, 0), None),
        ],
        ids=lambda v: v.mode + "".join(f"-{k}" for k in v.info) if isinstance(v, Image.Image) else "",
    )
    def test_mode(self, image: Image.Image, rgb: tuple[int, int, int], alpha: int | None) -> None:
        picture = pictures.from_pillow(image)
        assert picture.rgb.shape == (64, 64, 3) and picture.rgb.dtype == np.uint8
        assert (np.abs(picture.rgb.astype(int) - rgb) <= 1).all(), picture.rgb[0, 0]
        if alpha is None:
            assert picture.alpha is None
        else:
            assert picture.alpha is not None and picture.alpha.dtype == np.float32
            assert np.abs(picture.alpha * 255 - alpha).max() < 0.01

    def test_lab_through_littlecms(self) -> None:
        white = pictures.from_pillow(_image("LAB", (255, 128, 128)))
        assert (white.rgb >= 253).all()

    @pytest.mark.parametrize(
        ("left", "right", "fmt"),
        [
            (_image("P", 0, [0, 0, 0, 10, 20, 30], transparency=0), _image("P", 1), "PNG"),
            (_image("L", 77, transparency=77), _image("L", 78), "PNG"),
            (_image("RGB", (1, 2, 3), transparency=(1, 2, 3)), _image("RGB", (1, 2, 4)), "PNG"),
            (_image("LA", (77, 0)), _image("LA", (77, 128)), "PNG"),
            (_image("RGBA", (1, 2, 3, 0)), _image("RGBA", (1, 2, 3, 200)), "PNG"),
            (_image("RGBA", (1, 2, 3, 0)), _image("RGBA", (1, 2, 3, 200)), "WEBP"),
        ],
        ids=lambda v: v.mode if isinstance(v, Image.Image) else v,
    )
    def test_transparency_in_files(self, left: Image.Image, right: Image.Image, fmt: str) -> None:
        """Half transparent, half not: the file's alpha is what Pillow's RGBA conversion says."""
        image = left.copy()
        image.paste(right.crop((0, 0, 32, 64)), (32, 0))
        data = files.save(image, fmt, lossless=True) if fmt == "WEBP" else files.save(image, fmt)
        expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[..., 3]
        assert expected[:, :32].max() == 0 and expected[:, 32:].min() > 0
        picture = inputs.load_picture(data)
        assert picture.alpha is not None
        assert np.abs(picture.alpha * 255 - expected).max() < 0.01
        assert (picture.flattened() == inputs.load_image(data)).all()

    def test_transparency_is_flattened_on_white_for_load_image(self) -> None:
        data = files.save(_image("RGBA", (0, 0, 0, 128)), "PNG")
        assert tuple(inputs.load_image(data)[0, 0]) == (127, 127, 127)  # 0 * a + 255 * (1 - a)


def _srgb(image: Image.Image, profile: bytes) -> np.ndarray:
    """What LittleCMS makes of `image` under `profile`: the expected sRGB."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    return np.asarray(ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"))


def _gradient_rgb() -> np.ndarray:
    y, x = np.mgrid[:64, :96]
    return np.dstack([x * 255 // 95, y * 255 // 63, (x + y) * 255 // 158]).astype(np.uint8)


class TestColour:
    @pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
    def test_rgb_profile_is_converted_to_srgb(self, fmt: str) -> None:
        profile = files.adobe_rgb_profile()
        data = files.save(Image.fromarray(_gradient_rgb()), fmt, icc_profile=profile, quality=95)
        decoded = Image.open(io.BytesIO(data))
        assert decoded.info["icc_profile"] == profile
        raw = np.asarray(decoded.convert("RGB"))
        expected = _srgb(decoded.convert("RGB"), profile)
        got = inputs.load_image(data)
        assert np.abs(got.astype(int) - expected).max() <= 1
        assert np.abs(got.astype(int) - raw).max() > 20, "the profile was not applied"

    def test_alpha_survives_the_profile(self) -> None:
        rgba = np.dstack([_gradient_rgb(), np.full((64, 96), 100, np.uint8)])
        data = files.save(Image.fromarray(rgba), "PNG", icc_profile=files.adobe_rgb_profile())
        picture = inputs.load_picture(data)
        assert picture.alpha is not None and np.abs(picture.alpha * 255 - 100).max() < 0.01
        assert (
            np.abs(picture.rgb.astype(int) - _srgb(Image.fromarray(rgba[..., :3]), files.adobe_rgb_profile())) <= 1
        ).all()

    def test_grey_profile(self) -> None:
        data = files.save(_image("L", 128), "JPEG", icc_profile=files.linear_grey_profile(), quality=100)
        assert (np.abs(inputs.load_image(data).astype(int) - 188) <= 1).all()  # linear 0.5 is sRGB 188

    @pytest.mark.parametrize("profile", [b"not a profile", files.linear_grey_profile()], ids=["broken", "grey-on-rgb"])
    def test_unusable_profiles_are_ignored(self, profile: bytes) -> None:
        data = files.save(Image.fromarray(_gradient_rgb()), "PNG", icc_profile=profile)
        assert (inputs.load_image(data) == _gradient_rgb()).all()

    @pytest.mark.parametrize("adobe", [True, False], ids=["adobe-inverted", "plain"])
    def test_cmyk_jpeg_without_profile(self, adobe: bool) -> None:
        inks = (30, 200, 60, 20)
        data = files.cmyk_jpeg(np.full((64, 64, 4), inks, np.uint8), adobe=adobe)
        assert ("adobe" in Image.open(io.BytesIO(data)).info) is adobe
        got = inputs.load_image(data).astype(int)
        assert (np.abs(got - files.naive_cmyk_to_rgb(inks)) <= 2).all()

    def test_cmyk_jpeg_with_profile(self) -> None:
        cmyk = np.zeros((64, 64, 4), np.uint8)
        cmyk[:, :32, 0] = 255  # cyan alone: the profile says (0, 120, 200), the naive model (0, 255, 255)
        data = files.cmyk_jpeg(cmyk, icc_profile=files.cmyk_profile())
        got = inputs.load_image(data).astype(int)
        assert (np.abs(got[:, :28] - files.CMYK_CYAN) <= 3).all()
        assert (np.abs(got[:, 36:] - 255) <= 3).all()  # no ink: white


class TestOrientation:
    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_every_exif_orientation_as_pillow_applies_it(self, orientation: int) -> None:
        y, x = np.mgrid[:64, :96]
        rgba = np.dstack([x * 2, y * 3, np.zeros_like(x), 255 - x]).astype(np.uint8)
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = files.save(Image.fromarray(rgba), "PNG", exif=exif)
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
        picture = inputs.load_picture(data)
        assert picture.alpha is not None
        assert picture.rgb.shape[:2] == expected.shape[:2] == ((64, 96) if orientation < 5 else (96, 64))
        assert (picture.rgb == expected[..., :3]).all()
        assert np.abs(picture.alpha * 255 - expected[..., 3]).max() < 0.01


class TestVideos:
    @pytest.mark.parametrize(
        ("fmt", "container", "codec"),
        [
            ("mp4_h264", "mov", "h264"),
            ("webm_vp9", "webm", "vp9"),
            ("gif", "gif", "gif"),
            ("mov_proresks", "mov", "prores"),
        ],
    )
    def test_valid_containers(self, tmp_path: Path, fmt: str, container: str, codec: str) -> None:
        path = Clip(seed=1, size=(96, 128), n_frames=10).write(tmp_path / f"in.{fmt}", fmt)
        info = inputs.probe_video(path)
        assert (info.width, info.height, info.codec) == (128, 96, codec)
        assert container in info.container
        assert 0.2 < info.seconds < 0.5

    def test_too_long(self, tmp_path: Path) -> None:
        path = Clip(seed=1, size=(96, 128), n_frames=40).write(tmp_path / "in.mp4")
        with pytest.raises(errors.DurationTooLong):
            inputs.probe_video(path, inputs.VideoLimits(max_seconds=1.0))

    def test_too_small(self, tmp_path: Path) -> None:
        path = Clip(seed=1, size=(48, 64), n_frames=4).write(tmp_path / "in.mp4")
        with pytest.raises(errors.ResolutionTooLow):
            inputs.probe_video(path)

    def test_unsupported_codec_and_container(self, tmp_path: Path) -> None:
        mpeg4 = tmp_path / "in.mp4"
        with av.open(str(mpeg4), "w") as out:
            stream = out.add_stream("mpeg4", rate=Fraction(10))
            stream.width, stream.height, stream.pix_fmt = 96, 96, "yuv420p"
            for _ in range(3):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((96, 96, 3), np.uint8), format="rgb24")))
            out.mux(stream.encode())
        with pytest.raises(errors.UnsupportedCodec):
            inputs.probe_video(mpeg4)
        avi = tmp_path / "in.avi"
        avi.write_bytes(mpeg4.read_bytes())
        with av.open(str(avi), "w", format="avi") as out:
            stream = out.add_stream("mjpeg", rate=Fraction(10))
            stream.width, stream.height, stream.pix_fmt = 96, 96, "yuvj420p"
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((96, 96, 3), np.uint8), format="rgb24")))
            out.mux(stream.encode())
        with pytest.raises(errors.UnsupportedVideoFormat):
            inputs.probe_video(avi)

    def test_corrupt_truncated_empty_too_big(self, tmp_path: Path) -> None:
        good = Clip(seed=1, size=(96, 128), n_frames=10).write(tmp_path / "in.webm", "webm_vp9")
        cases = {
            "empty.mp4": (b"", errors.EmptyFile),
            "garbage.mp4": (b"\x00garbage" * 200, errors.MalformedVideo),
            "truncated.webm": (good.read_bytes()[:200], errors.MalformedVideo),
        }
        for name, (data, error) in cases.items():
            path = tmp_path / name
            path.write_bytes(data)
            with pytest.raises(error):
                inputs.probe_video(path)
        with pytest.raises(errors.FileTooLarge):
            inputs.probe_video(good, inputs.VideoLimits(max_bytes=100))

    def test_spool(self) -> None:
        path = inputs.spool(b"abc", ".bin")
        try:
            assert path.read_bytes() == b"abc" and path.suffix == ".bin"
        finally:
            path.unlink()
