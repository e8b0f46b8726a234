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
    "fal-storage-initiate": handlers.storage_initiate,
    "fal-storage-initiate-multipart": handlers.storage_initiate_multipart,
    "fal-cdn-upload": handlers.cdn_upload,
    "fal-cdn-put": handlers.cdn_put,
    "fal-cdn-multipart-create": handlers.cdn_multipart_create,
    "fal-cdn-multipart-part": handlers.cdn_multipart_part,
    "fal-cdn-multipart-complete": handlers.cdn_multipart_complete,
    "fal-jwks": handlers.jwks,
}
