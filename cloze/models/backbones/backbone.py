"""Base class of every backbone: config, presets and the tied token embedding."""
import dataclasses
import os

import keras

from cloze.models import builtin_presets, presets
from cloze.models.layers.rows import take_rows
from cloze.models.layers.transformer_encoder import TransformerEncoder

# Layers that act on each position alone, so they may follow a block that computed
# only some positions.
PER_POSITION_LAYERS = (keras.layers.LayerNormalization, keras.layers.Dropout,
                       keras.layers.Activation)


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

    def masked_hidden_states(self, inputs, mask_positions, training=None):
        """``sequence_output`` at ``mask_positions`` ``(batch, masks)``: ``(batch, masks, hidden)``.

        Where ``sequence_output`` is a ``TransformerEncoder``'s output (through
        per-position layers at most, such as a final layer norm), that last block
        computes only the masked positions (its ``query_positions``): for BERT-small
        (4 layers) about 15% of a masked-LM training step's arithmetic. Otherwise
        (FNet, DeBERTa's relative attention) the whole sequence is computed and the
        positions are taken from it. The numbers are the same either way, up to
        float summation order.

        Example:
        >>> import numpy as np
        >>> from cloze.models import BertBackbone
        >>> backbone = BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2,
        ...                         hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
        >>> inputs = {"token_ids": np.ones((2, 6), "int32"),
        ...           "segment_ids": np.zeros((2, 6), "int32"),
        ...           "padding_mask": np.ones((2, 6), "int32")}
        >>> rows = backbone.masked_hidden_states(inputs, np.array([[1, 2, 5], [0, 3, 3]]))
        >>> full = backbone(inputs)["sequence_output"].numpy()
        >>> bool(np.allclose(rows[1, 1], full[1, 3], atol=1e-5))
        True
        """
        last = self.last_block()
        if last is None:
            return take_rows(self(inputs, training=training)["sequence_output"], mask_positions)
        hidden, padding_mask = last.prefix(inputs, training=training)
        x = last.block(hidden, padding_mask=padding_mask, training=training,
                       query_positions=mask_positions)
        for layer in last.tail:
            x = layer(x, training=training)
        return x

    def last_block(self):
        """The ``LastBlock`` that ``masked_hidden_states`` runs at the masked positions
        only, or None when this backbone's output does not allow it."""
        # Kept in __dict__, not as a tracked attribute: the prefix model shares this
        # backbone's layers and must not add a path to its saved weights.
        if "_last_block" not in self.__dict__:
            self.__dict__["_last_block"] = LastBlock.find(self)
        return self.__dict__["_last_block"]

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


@dataclasses.dataclass(frozen=True)
class LastBlock:
    """A backbone's last encoder block and what surrounds it.

    ``prefix`` maps the backbone's inputs to the block's input and padding mask
    (a functional model over the backbone's own layers); ``tail`` are the
    per-position layers between the block and ``sequence_output``.

    Example:
    >>> from cloze.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2,
    ...                         hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> last = LastBlock.find(backbone)
    >>> last.block.name, last.tail
    ('transformer_layer_1', ())
    """

    prefix: keras.Model
    block: TransformerEncoder
    tail: tuple

    @classmethod
    def find(cls, backbone):
        """Follows ``sequence_output`` back through the graph; None unless it reaches a
        block that can compute some positions only, through per-position layers."""
        outputs = backbone.output
        if not isinstance(outputs, dict) or "sequence_output" not in outputs:
            return None
        tensor, tail = outputs["sequence_output"], []
        while True:
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if isinstance(layer, TransformerEncoder):
                break
            if not isinstance(layer, PER_POSITION_LAYERS) or len(node.input_tensors) != 1:
                return None
            tail.append(layer)
            tensor = node.input_tensors[0]
        padding_mask = node.arguments.kwargs.get("padding_mask")
        if not layer.rows_only or padding_mask is None or len(node.arguments.args) != 1:
            return None
        prefix = keras.Model(backbone.input, [node.arguments.args[0], padding_mask],
                             name=f"{backbone.name}_before_{layer.name}")
        return cls(prefix, layer, tuple(reversed(tail)))


def _refuse_builtin_weights(name: str, load_weights: bool) -> None:
    if load_weights:
        raise presets.PresetError(
            f"built-in preset {name!r} ships no weights (Cloze downloads nothing): pass "
            f"load_weights=False for random weights, or load a preset directory or a converted "
            f"checkpoint (`cloze convert SRC DST`).")
