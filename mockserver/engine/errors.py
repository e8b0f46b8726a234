"""Typed failures of the engine.

Every way an input can be wrong has its own class with a stable ``code``. The engine knows nothing
about HTTP; each provider's vocabulary maps these codes to its own status and error body (Pixelcut
``malformed_image``, PixelAPI 413, fal 422 ...). Nothing here is ever a bare ValueError, so a bad
input can never surface as a 500.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class: an input or option the engine refuses. ``code`` is stable, ``str()`` is for people."""

    code = "invalid_media"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FileTooLarge(MediaError):
    code = "file_size_too_large"


class EmptyFile(MediaError):
    code = "empty_file"


class MalformedImage(MediaError):
    code = "malformed_image"


class UnsupportedImageFormat(MediaError):
    code = "unsupported_image_format"


class ResolutionTooHigh(MediaError):
    code = "resolution_too_high"


class ResolutionTooLow(MediaError):
    code = "resolution_too_low"


class NoForeground(MediaError):
    code = "unknown_foreground"


class MalformedVideo(MediaError):
    code = "malformed_video"


class UnsupportedVideoFormat(MediaError):
    code = "unsupported_video_format"


class UnsupportedCodec(MediaError):
    code = "unsupported_codec"


class DurationTooLong(MediaError):
    code = "duration_too_long"


class InvalidOption(MediaError):
    """An output option the engine cannot honour (e.g. a transparent background in MP4).

    ``field`` names the request field at fault, so each provider can point at it.
    """

    code = "invalid_parameter"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FetchError(MediaError):
    """The input URL could not be fetched (DNS, refused, HTTP error status)."""

    code = "fetch_failed"


class FetchTimeout(FetchError):
    code = "fetch_timeout"


class ForbiddenAddress(FetchError):
    """The URL points at an address the SSRF policy refuses (private, link-local, metadata)."""

    code = "forbidden_address"
