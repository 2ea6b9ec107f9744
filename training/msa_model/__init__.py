"""CENet-style multimodal sentiment model with text enhancement and external memories."""

from .config import ModelConfig, TrainConfig
from .enhancement import CrossModalEnhancement
from .fusion import FusionHead
from .memory import ExternalMemory
from .metrics import sentiment_metrics
from .model import MSAModel

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "ExternalMemory",
    "CrossModalEnhancement",
    "FusionHead",
    "MSAModel",
    "sentiment_metrics",
]
