"""BERT: post-LayerNorm Transformer encoder with token, position and segment embeddings."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.layers.position_embedding import PositionEmbedding
from cloze.models.layers.reversible_embedding import ReversibleEmbedding
from cloze.models.layers.transformer_encoder import TransformerEncoder

# BERT's layer norms use 1e-12 (google-research/bert and Hugging Face agree).
BERT_LAYER_NORM_EPSILON = 1e-12


def bert_kernel_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="cloze")
class BertBackbone(Backbone):
    """The BERT encoder (Devlin et al., 2018), with keras-hub's constructor.

    Inputs are a dict of ``token_ids``, ``segment_ids`` and ``padding_mask``
    (each ``(batch, length)`` int32); outputs are ``sequence_output``
    ``(batch, length, hidden_dim)`` and ``pooled_output`` ``(batch, hidden_dim)``,
    a tanh dense layer over the ``[CLS]`` position.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input (size of the position table).
        num_segments: number of segment ids.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                         hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    >>> outputs = backbone({"token_ids": np.ones((1, 8), "int32"),
    ...                     "segment_ids": np.zeros((1, 8), "int32"),
    ...                     "padding_mask": np.ones((1, 8), "int32")})
    >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
    ((1, 8, 16), (1, 16))
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim,
                 intermediate_dim, dropout=0.1, max_sequence_length=512,
                 num_segments=2, dtype=None, **kwargs):
        token_embedding = ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=bert_kernel_initializer(),
            dtype=dtype, name="token_embedding")
        position_embedding = PositionEmbedding(
            max_sequence_length, initializer=bert_kernel_initializer(), dtype=dtype,
            name="position_embedding")
        segment_embedding = keras.layers.Embedding(
            num_segments, hidden_dim, embeddings_initializer=bert_kernel_initializer(),
            dtype=dtype, name="segment_embedding")
        embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=BERT_LAYER_NORM_EPSILON, dtype=dtype, name="embeddings_layer_norm")
        embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="embeddings_dropout")
        blocks = [
            TransformerEncoder(
                intermediate_dim, num_heads, dropout=dropout,
                activation=keras.activations.gelu, layer_norm_epsilon=BERT_LAYER_NORM_EPSILON,
                kernel_initializer=bert_kernel_initializer(), dtype=dtype,
                name=f"transformer_layer_{i}")
            for i in range(num_layers)
        ]
        pooled_dense = keras.layers.Dense(
            hidden_dim, activation="tanh", kernel_initializer=bert_kernel_initializer(),
            dtype=dtype, name="pooled_dense")

        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        tokens = token_embedding(token_ids)
        x = keras.layers.Add(dtype=dtype, name="embeddings_add")(
            (tokens, position_embedding(tokens), segment_embedding(segment_ids)))
        x = embeddings_dropout(embeddings_layer_norm(x))
        for block in blocks:
            x = block(x, padding_mask=padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask},
            outputs={"sequence_output": x, "pooled_output": pooled_dense(x[:, 0, :])},
            dtype=dtype, **kwargs)
        self._token_embedding = token_embedding
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments

    def masked_lm_head_config(self):
        # BERT's transform layer: dense + exact GELU + LayerNorm(1e-12) before the tied output.
        return {"intermediate_activation": keras.activations.gelu,
                "layer_norm_epsilon": BERT_LAYER_NORM_EPSILON,
                "kernel_initializer": bert_kernel_initializer()}

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
        })
        return config
