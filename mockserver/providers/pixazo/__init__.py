"""Pixazo gateway (gateway.pixazo.ai): Pixelcut video background removal through APIM."""

from mockserver.providers.base import Provider
from mockserver.providers.pixazo.routes import HANDLERS
from mockserver.providers.pixazo.vocabulary import PixazoVocabulary

PIXAZO = Provider(PixazoVocabulary(), HANDLERS)
