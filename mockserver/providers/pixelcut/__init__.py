"""Pixelcut (api.developer.pixelcut.ai): image and video background removal."""

from mockserver.providers.base import Provider, Surface
from mockserver.providers.pixelcut import vocabulary
from mockserver.providers.pixelcut.routes import HANDLERS
from mockserver.web.http import header

PIXELCUT = Provider(
    name="pixelcut",
    spec="pixelcut",
    prefix="/pixelcut",
    surfaces={
        "api": Surface("/pixelcut", "api.developer.pixelcut.ai"),
        "assets": Surface("/pixelcut/assets", "assets.pixelcut.app"),
    },
    vocabulary=vocabulary.PixelcutVocabulary(),
    handlers=HANDLERS,
    api_key=lambda request: header(request, "x-api-key") or None,
    starting_balance=100.0,
    media_surface="assets",
    media_route="/public/result/{media_id}.{ext}",
    media_path=vocabulary.media_path,
    rate_limit=lambda account: vocabulary.RATE_LIMIT,
)
