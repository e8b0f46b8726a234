"""Pixazo: operationId -> handler (checked against openapi/pixazo.yaml at start-up)."""

from mockserver.providers.pixazo import handlers

HANDLERS = {
    "pixazo-pixelcut-request": handlers.submit,
    "pixazo-status-get": handlers.status,
    "pixazo-status-post": handlers.status,
}
