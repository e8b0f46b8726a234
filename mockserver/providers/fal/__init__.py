"""fal.ai: the queue, the sync run and storage for pixelcut/video-background-removal."""

from mockserver.providers.base import Context, Provider, Surface
from mockserver.providers.fal import handlers, vocabulary
from mockserver.providers.fal.routes import HANDLERS


def _request_id_header(ctx: Context) -> dict[str, str]:
    """fal sends x-fal-request-id on every response (fal-client reads it to tell fal from a proxy)."""
    if "x-fal-request-id" in ctx.extra_headers:
        return {}
    return {"x-fal-request-id": ctx.mock.ids.uuid4()}


FAL = Provider(
    name="fal",
    spec="fal",
    prefix="/fal",
    surfaces={
        "queue": Surface("/fal/queue", "queue.fal.run"),
        "run": Surface("/fal/run", "fal.run"),
        "rest": Surface("/fal/rest", "rest.fal.ai"),
        "cdn": Surface("/fal/cdn", "v3.fal.media"),
    },
    vocabulary=vocabulary.FalVocabulary(),
    handlers=HANDLERS,
    api_key=vocabulary.api_key,
    starting_balance=10.0,
    video_price=vocabulary.VIDEO_PRICE,
    media_surface="cdn",
    media_route="/files/{media_id}/{filename}",
    media_path=vocabulary.media_path,
    response_headers=_request_id_header,
    webhook_payload=handlers.webhook_payload,
    webhook_retries=vocabulary.RETRY_DELAYS,
    webhook_headers=handlers.webhook_headers,
)
