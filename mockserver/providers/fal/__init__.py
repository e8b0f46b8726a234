"""fal.ai: the queue, the sync run and storage for pixelcut/video-background-removal."""

from mockserver.providers.base import Provider
from mockserver.providers.fal.routes import HANDLERS
from mockserver.providers.fal.vocabulary import FalVocabulary

FAL = Provider(FalVocabulary(), HANDLERS)
