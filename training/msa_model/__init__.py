"""CENet-style multimodal sentiment model with text enhancement and external memories."""

from .config import ModelConfig, TrainConfig
from .memory import ExternalMemory
from .enhancement import CrossModalEnhancement
from .fusion import FusionHead
from .model import MSAModel
from .metrics import sentiment_metrics

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "ExternalMemory",
    "CrossModalEnhancement",
    "FusionHead",
    "MSAModel",
    "sentiment_metrics",
]
