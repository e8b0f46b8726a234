"""Pixelcut: operationId -> handler (checked against openapi/pixelcut.yaml at start-up)."""

from mockserver.providers.pixelcut import handlers

HANDLERS = {
    "remove-background": handlers.remove_background,
    "video-remove-background": handlers.video_remove_background,
    "video-remove-background-job-status": handlers.video_job_status,
    "get-credits": handlers.get_credits,
}
