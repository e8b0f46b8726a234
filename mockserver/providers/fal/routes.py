"""fal: operationId -> handler (checked against openapi/fal.yaml at start-up)."""

from mockserver.providers.fal import handlers

HANDLERS = {
    "fal-queue-submit": handlers.queue_submit,
    "fal-queue-status": handlers.queue_status,
    "fal-queue-status-stream": handlers.queue_status_stream,
    "fal-queue-result": handlers.queue_result,
    "fal-queue-cancel": handlers.queue_cancel,
    "fal-run": handlers.run,
    "fal-storage-token": handlers.storage_token,
    "fal-cdn-upload": handlers.cdn_upload,
    "fal-jwks": handlers.jwks,
}
