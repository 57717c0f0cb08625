"""adm-hf: sharpness-aware minimisation and adversarial-difficulty curricula for the Hugging Face Trainer."""

from .config import ADMConfig
from .trainer import ADMTrainer

__all__ = ["ADMConfig", "ADMTrainer"]
__version__ = "0.1.0"
