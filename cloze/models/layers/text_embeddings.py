"""The embedding stage shared by BERT-family backbones: sum, normalise, drop out."""
import keras
from keras import ops

from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.position_embedding import PositionEmbedding
from cloze.models.layers.reversible_embedding import ReversibleEmbedding

POSITION_IDS = ("sequential", "padding_offset", None)


def padding_offset_position_ids(token_ids, pad_token_id):
    """Position ids the way fairseq and Hugging Face's RoBERTa number them.

    Pad tokens get position ``pad_token_id``; the other tokens count up from
    ``pad_token_id + 1`` in order, skipping pads, so the ids of real tokens do
    not depend on how much padding surrounds them.

    Example:
    >>> import numpy as np
    >>> ids = padding_offset_position_ids(np.array([[0, 7, 8, 1, 1]]), pad_token_id=1)
    >>> ops.convert_to_numpy(ids).tolist()
    [[2, 3, 4, 1, 1]]
    """
    is_token = ops.cast(ops.not_equal(token_ids, pad_token_id), "int32")
    return ops.cumsum(is_token, axis=-1) * is_token + pad_token_id


@keras.saving.register_keras_serializable(package="cloze")
class TextEmbeddings(keras.layers.Layer):
    """Token, position and segment embeddings, summed, layer-normalised and dropped out.

    Called on ``token_ids`` (and ``segment_ids`` when ``num_segments`` is set),
    returns ``(batch, length, hidden_dim)``. The token table is a
    ``ReversibleEmbedding`` (``token_embedding``) so a masked-LM head can be tied to it.

    Args:
        vocabulary_size: number of token ids.
        hidden_dim: embedding width.
        max_sequence_length: the longest input.
        num_segments: size of the segment table; 0 for a model without segments.
        position_ids: ``"sequential"`` (positions ``0 .. length - 1``, BERT and
            DistilBERT), ``"padding_offset"`` (``padding_offset_position_ids``,
            RoBERTa; the table then has ``max_sequence_length + pad_token_id + 1``
            rows, Hugging Face's ``max_position_embeddings``) or None (no
            absolute positions, for relative attention).
        pad_token_id: the pad token, used by ``"padding_offset"``.
        layer_norm_epsilon: epsilon of the layer norm.
        dropout: dropout rate after the layer norm.
        initializer_range: standard deviation of the truncated-normal tables.

    Example:
    >>> import numpy as np
    >>> layer = TextEmbeddings(vocabulary_size=20, hidden_dim=8, max_sequence_length=16,
    ...                        position_ids="padding_offset")
    >>> tuple(layer(np.array([[0, 5, 6, 2, 1, 1]])).shape)
    (1, 6, 8)
    """

    def __init__(self, vocabulary_size, hidden_dim, max_sequence_length, num_segments=0,
                 position_ids="sequential", pad_token_id=1, layer_norm_epsilon=1e-12,
                 dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if position_ids not in POSITION_IDS:
            raise ValueError(f"position_ids={position_ids!r}; expected one of {POSITION_IDS}.")
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.position_ids = position_ids
        self.pad_token_id = pad_token_id
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout
        self.initializer_range = initializer_range

        self.token_embedding = ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=self._initializer(),
            dtype=self.dtype_policy, name="token_embedding")
        self.position_embedding = None
        if position_ids == "sequential":
            self.position_embedding = PositionEmbedding(
                max_sequence_length, initializer=self._initializer(),
                dtype=self.dtype_policy, name="position_embedding")
        elif position_ids == "padding_offset":
            self.position_embedding = keras.layers.Embedding(
                max_sequence_length + pad_token_id + 1, hidden_dim,
                embeddings_initializer=self._initializer(), dtype=self.dtype_policy,
                name="position_embedding")
        self.segment_embedding = None
        if num_segments:
            self.segment_embedding = keras.layers.Embedding(
                num_segments, hidden_dim, embeddings_initializer=self._initializer(),
                dtype=self.dtype_policy, name="segment_embedding")
        self.layer_norm = LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="embeddings_layer_norm")
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="embeddings_dropout")

    def _initializer(self):
        return keras.initializers.TruncatedNormal(stddev=self.initializer_range)

    def build(self, token_ids_shape):
        self.token_embedding.build(token_ids_shape)
        hidden_shape = tuple(token_ids_shape) + (self.hidden_dim,)
        if self.position_ids == "sequential":
            self.position_embedding.build(hidden_shape)
        elif self.position_ids == "padding_offset":
            self.position_embedding.build(token_ids_shape)
        if self.segment_embedding is not None:
            self.segment_embedding.build(token_ids_shape)
        self.layer_norm.build(hidden_shape)
        self.built = True

    def call(self, token_ids, segment_ids=None, training=None):
        if (segment_ids is None) != (self.segment_embedding is None):
            raise ValueError(f"segment_ids {'missing' if segment_ids is None else 'given'} "
                             f"but num_segments={self.num_segments}.")
        x = self.token_embedding(token_ids)
        if self.position_ids == "sequential":
            x = x + self.position_embedding(x)
        elif self.position_ids == "padding_offset":
            x = x + self.position_embedding(
                padding_offset_position_ids(token_ids, self.pad_token_id))
        if self.segment_embedding is not None:
            x = x + self.segment_embedding(segment_ids)
        return self.dropout_layer(self.layer_norm(x), training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "hidden_dim": self.hidden_dim,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
            "position_ids": self.position_ids,
            "pad_token_id": self.pad_token_id,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "dropout": self.dropout,
            "initializer_range": self.initializer_range,
        })
        return config
