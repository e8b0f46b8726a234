"""Pixazo gateway (gateway.pixazo.ai): Pixelcut video background removal through APIM."""

from mockserver.core.jobs import State
from mockserver.providers.base import Provider, Surface
from mockserver.providers.pixazo import handlers, vocabulary
from mockserver.providers.pixazo.routes import HANDLERS
from mockserver.web.http import header

PIXAZO = Provider(
    name="pixazo",
    spec="pixazo",
    prefix="/pixazo",
    surfaces={
        "gateway": Surface("/pixazo", "gateway.pixazo.ai"),
        # Outputs live on a Cloudflare R2 bucket in reality; the mock stands in a host of its own.
        "media": Surface("/pixazo/media", "media.pixazo.mock"),
    },
    vocabulary=vocabulary.PixazoVocabulary(),
    handlers=HANDLERS,
    api_key=lambda request: header(request, "ocp-apim-subscription-key") or None,
    starting_balance=10.0,
    video_price=vocabulary.VIDEO_PRICE,
    media_surface="media",
    media_route="/v1/{media_id}/{filename}",
    media_path=vocabulary.media_path,
    refunded=frozenset({State.ERRORED, State.CANCELLED}),  # "ERROR - System error - not charged"
    webhook_payload=handlers.webhook_payload,
    webhook_retries=vocabulary.RETRY_DELAYS,
)
