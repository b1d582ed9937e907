"""Energy models: local e3x message passing, its EFA-augmented variant and the model registry."""

from efa.models.mpnn import EFAModel, LocalModel
from efa.models.registry import BUILTIN_MODELS, build_model, resolve_model

__all__ = ["BUILTIN_MODELS", "EFAModel", "LocalModel", "build_model", "resolve_model"]
