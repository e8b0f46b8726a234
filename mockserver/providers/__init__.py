"""The providers the mock serves. Each is a `Provider` made of a vocabulary, handlers and routes."""

from mockserver.providers.pixelcut import PIXELCUT

PROVIDERS = [PIXELCUT]
