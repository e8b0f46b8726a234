"""PixelAPI: operationId -> handler (checked against openapi/pixelapi.yaml at start-up)."""

from mockserver.providers.pixelapi import handlers

HANDLERS = {
    "pixelapi-remove-background": handlers.remove_background_cutout,
    "pixelapi-replace-background": handlers.replace_background,
    "pixelapi-restore-face": handlers.restore_face,
    "pixelapi-remove-object": handlers.remove_object,
    "pixelapi-upscale": handlers.upscale,
    "pixelapi-generate-image": handlers.generate_image,
    "pixelapi-get-generation": handlers.get_generation,
    "pixelapi-generate-audio": handlers.generate_audio,
    "pixelapi-generate-video": handlers.generate_video,
    "pixelapi-get-video": handlers.get_generation,
    "pixelapi-list-models": handlers.list_models,
    "pixelapi-account-balance": handlers.account_balance,
    "pixelapi-account-usage": handlers.account_usage,
    "pixelapi-virtual-tryon": handlers.virtual_tryon,
    "pixelapi-tryon-job": handlers.tryon_job,
}
