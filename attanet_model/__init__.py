"""AttaNet: the network, checkpoints and the inference engine. Knows nothing of ROS or Qt."""

from .classes import (
    CITYSCAPES_CLASSES,
    IGNORE_INDEX,
    ClassInfo,
    ClassTableMismatch,
    check_same_classes,
    labels_to_color,
    overlay,
)
from .network import ARCHS, ArchConfig, AttaNet, SegmentationOutput, build_model

__all__ = [
    "ARCHS",
    "CITYSCAPES_CLASSES",
    "IGNORE_INDEX",
    "ArchConfig",
    "AttaNet",
    "ClassInfo",
    "ClassTableMismatch",
    "SegmentationOutput",
    "build_model",
    "check_same_classes",
    "labels_to_color",
    "overlay",
]

from .auto_backend import AutoSettings
from .checkpoint import CheckpointError, ModelMeta, load_checkpoint, save_checkpoint
from .official import OfficialImportError, import_official
from .segmenter import AttentionQuery, Result, Segmenter, default_model_path

__all__ += [
    "AttentionQuery",
    "AutoSettings",
    "CheckpointError",
    "ModelMeta",
    "OfficialImportError",
    "Result",
    "Segmenter",
    "default_model_path",
    "import_official",
    "load_checkpoint",
    "save_checkpoint",
]
