"""Inputs: every way a URL or a file can be bad gives its typed error, never a crash or a hang."""

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
from PIL import Image

from mockserver.engine import errors, inputs
from mockserver.engine.synth import Clip


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

    def test_private_allowed_by_policy_still_not_metadata(self) -> None:
        inputs.check_address("10.1.2.3", inputs.FetchPolicy(allow_private=True))
        with pytest.raises(errors.ForbiddenAddress):
            inputs.check_address("169.254.169.254", inputs.FetchPolicy(allow_private=True))

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
