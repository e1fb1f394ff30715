"""Cloze: pretrain BERT-family masked language models, from raw text to TF Serving.

Reading order for a newcomer, following the data:
``data`` (text -> TFRecords) -> ``models`` (layers, backbones, tasks, tokenizers,
presets) -> ``training`` -> ``export`` (SavedModel) -> ``components`` (TFX) ->
``pipeline`` (pipeline definition, runners, CLI).
"""
import os as _os

# tensorflow_transform (imported by TFX) flips this to "1" on import; setting it
# up front makes the choice explicit and independent of import order. Cloze's
# models use Keras 3 through ``import keras`` only, never ``tf.keras``.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
