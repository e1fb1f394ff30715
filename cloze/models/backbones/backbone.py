"""Base class of every backbone: config, presets and the tied token embedding."""
import os

import keras

from cloze.models import builtin_presets, presets


class _PresetNames:
    """``cls.presets``: the built-in preset names that build ``cls``."""

    def __get__(self, instance, owner):
        return builtin_presets.preset_names(owner)


class Backbone(keras.Model):
    """A functional model from token ids to hidden states, savable as a preset.

    Subclasses build their layers, call ``super().__init__(inputs=..., outputs=...)``
    and describe the masked-LM head that suits them in ``masked_lm_head_config``.

    Example:
    >>> from cloze.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2,
    ...                         hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> import tempfile; preset = tempfile.mkdtemp()
    >>> backbone.save_to_preset(preset)
    >>> type(Backbone.from_preset(preset)).__name__
    'BertBackbone'
    """

    presets = _PresetNames()

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._backbone_dtype = dtype
        if dtype is not None:
            # The functional model itself reports the policy its layers were built with.
            self.dtype_policy = keras.dtype_policies.get(dtype)

    @property
    def token_embedding(self):
        """The ``ReversibleEmbedding`` shared with the masked-LM head."""
        return self._token_embedding

    def masked_lm_head_config(self) -> dict:
        """Keyword arguments of the ``MaskedLMHead`` this backbone is trained with."""
        raise NotImplementedError

    def _record_config(self, token_embedding, **arguments):
        """Keeps the tied embedding, and the constructor ``arguments`` both as
        attributes and as ``get_config()``: one place instead of each backbone
        writing its arguments out twice."""
        self._token_embedding = token_embedding
        self._config_keys = tuple(arguments)
        for key, value in arguments.items():
            setattr(self, key, value)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": keras.dtype_policies.serialize(self._backbone_dtype)
                  if isinstance(self._backbone_dtype, keras.DTypePolicy)
                  else self._backbone_dtype}
        for key in getattr(self, "_config_keys", ()):
            value = getattr(self, key)
            config[key] = keras.activations.serialize(value) if callable(value) else value
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, preset: str, load_weights: bool = True, **kwargs):
        """Builds the backbone a preset describes; ``kwargs`` override its config.

        ``preset`` is a preset directory, a Hugging Face checkpoint directory
        (converted on the fly), ``hf://org/name`` (from the local Hugging Face
        cache) or a built-in name from ``cls.presets`` (architecture only:
        ``load_weights=False``). Called on ``Backbone`` itself, returns whichever
        subclass the preset names.
        """
        if preset in builtin_presets.BUILTIN_PRESETS:
            _refuse_builtin_weights(preset, load_weights)
            return builtin_presets.build_backbone(preset, cls, **kwargs)
        preset = presets.resolve_handle(preset)
        if presets.is_hugging_face_checkpoint(preset):
            from cloze.models.convert import load_hf  # converters import the models

            return load_hf(preset).backbone
        backbone = presets.load_serialized(preset, presets.CONFIG_FILE, cls, **kwargs)
        if load_weights:
            backbone.load_weights(presets.preset_file(preset, presets.MODEL_WEIGHTS_FILE))
        return backbone

    def save_to_preset(self, preset_dir: str) -> None:
        """Writes ``config.json``, ``model.weights.h5`` and ``metadata.json``."""
        presets.save_serialized(self, preset_dir, presets.CONFIG_FILE)
        self.save_weights(os.path.join(preset_dir, presets.MODEL_WEIGHTS_FILE))
        presets.save_metadata(self, preset_dir)


def _refuse_builtin_weights(name: str, load_weights: bool) -> None:
    if load_weights:
        raise presets.PresetError(
            f"built-in preset {name!r} ships no weights (Cloze downloads nothing): pass "
            f"load_weights=False for random weights, or load a preset directory or a converted "
            f"checkpoint (`cloze convert SRC DST`).")
