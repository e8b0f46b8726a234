"""Pixelcut (api.developer.pixelcut.ai): image and video background removal."""

from mockserver.providers.base import Provider
from mockserver.providers.pixelcut.routes import HANDLERS
from mockserver.providers.pixelcut.vocabulary import PixelcutVocabulary

PIXELCUT = Provider(PixelcutVocabulary(), HANDLERS)
