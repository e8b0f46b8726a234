"""PixelAPI (api.pixelapi.dev): background removal, image operations, generation, try-on."""

from mockserver.providers.base import Provider, Surface
from mockserver.providers.pixelapi import vocabulary
from mockserver.providers.pixelapi.routes import HANDLERS

PIXELAPI = Provider(
    name="pixelapi",
    spec="pixelapi",
    prefix="/pixelapi",
    surfaces={"api": Surface("/pixelapi", "api.pixelapi.dev")},
    vocabulary=vocabulary.PixelapiVocabulary(),
    handlers=HANDLERS,
    api_key=vocabulary.api_key,
    starting_balance=vocabulary.STARTING_CREDITS,
    media_surface="api",
    media_route="/outputs/{media_id}.{ext}",
    media_path=vocabulary.media_path,
    max_body=vocabulary.MAX_UPLOAD,
    gate=vocabulary.user_agent_gate,
    rate_limit=vocabulary.plan_limit,
    rate_headers=vocabulary.rate_headers,
)
