"""PixelAPI (api.pixelapi.dev): background removal, image operations, generation, try-on."""

from mockserver.providers.base import Provider
from mockserver.providers.pixelapi.routes import HANDLERS
from mockserver.providers.pixelapi.vocabulary import PixelapiVocabulary

PIXELAPI = Provider(PixelapiVocabulary(), HANDLERS)
