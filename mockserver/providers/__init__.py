"""The providers the mock serves. Each is a `Provider` made of a vocabulary, handlers and routes."""

from mockserver.providers.fal import FAL
from mockserver.providers.pixazo import PIXAZO
from mockserver.providers.pixelapi import PIXELAPI
from mockserver.providers.pixelcut import PIXELCUT

PROVIDERS = [PIXELCUT, FAL, PIXAZO, PIXELAPI]
