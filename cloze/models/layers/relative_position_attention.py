"""Self-attention with learned relative-distance embeddings (Shaw et al.; Huang et al.)."""
import math

import keras
from keras import ops

from cloze.models.layers.multi_head_attention import MultiHeadAttention

RELATIVE_POSITION_TYPES = ("relative_key", "relative_key_query")


@keras.saving.register_keras_serializable(package="cloze")
class RelativePositionAttention(MultiHeadAttention):
    """Multi-head attention whose scores also depend on the query-key distance.

    One table of ``2 * max_position_embeddings - 1`` vectors of width ``key_dim``,
    shared by all heads, embeds the distance ``i - j`` between query ``i`` and
    key ``j``. ``"relative_key"`` (Shaw et al., 2018) adds ``q_i . r_ij`` to each
    score; ``"relative_key_query"`` (Huang et al., 2020) adds ``k_j . r_ij`` too.
    The extra terms are scaled by ``1 / sqrt(key_dim)`` together with ``q_i . k_j``,
    which is what Hugging Face's ``position_embedding_type`` models compute, so
    their ``distance_embedding`` weights load unchanged.

    Args:
        num_heads: attention heads.
        key_dim: width of each head.
        position_embedding_type: ``"relative_key"`` or ``"relative_key_query"``.
        max_position_embeddings: distances up to ``max_position_embeddings - 1``
            either way can be embedded.
        **kwargs: passed to ``MultiHeadAttention`` (Keras').

    Example:
    >>> import numpy as np
    >>> layer = RelativePositionAttention(num_heads=2, key_dim=4,
    ...                                   position_embedding_type="relative_key",
    ...                                   max_position_embeddings=16)
    >>> x = np.random.rand(2, 5, 8).astype("float32")
    >>> tuple(layer(x, x).shape)
    (2, 5, 8)
    """

    def __init__(self, num_heads, key_dim, position_embedding_type, max_position_embeddings,
                 **kwargs):
        super().__init__(num_heads, key_dim, **kwargs)
        if position_embedding_type not in RELATIVE_POSITION_TYPES:
            raise ValueError(f"position_embedding_type={position_embedding_type!r}; expected "
                             f"one of {RELATIVE_POSITION_TYPES}.")
        if not max_position_embeddings or max_position_embeddings < 1:
            raise ValueError(f"max_position_embeddings={max_position_embeddings!r}; expected "
                             f"a positive int.")
        self.position_embedding_type = position_embedding_type
        self.max_position_embeddings = int(max_position_embeddings)

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        self._distance_embedding = keras.layers.Embedding(
            2 * self.max_position_embeddings - 1, self._key_dim,
            embeddings_initializer=self._kernel_initializer.__class__.from_config(
                self._kernel_initializer.get_config()),
            dtype=self.dtype_policy, name="distance_embedding")
        self._distance_embedding.build(None)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False):
        # query (batch, T, heads, dim), key/value (batch, S, heads, dim).
        distance = (ops.arange(ops.shape(query)[1])[:, None]
                    - ops.arange(ops.shape(key)[1])[None, :])
        relative = self._distance_embedding(distance + self.max_position_embeddings - 1)
        relative = ops.cast(relative, query.dtype)
        scores = ops.einsum("btnh,bsnh->bnts", query, key)
        scores = scores + ops.einsum("btnh,tsh->bnts", query, relative)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + ops.einsum("bsnh,tsh->bnts", key, relative)
        scores = scores * ops.cast(1.0 / math.sqrt(self._key_dim), scores.dtype)
        probabilities = self._masked_softmax(scores, attention_mask)
        dropped = self._dropout_layer(probabilities, training=training)
        return ops.einsum(self._combine_equation, dropped, value), probabilities

    def get_config(self):
        config = super().get_config()
        config.update({
            "position_embedding_type": self.position_embedding_type,
            "max_position_embeddings": self.max_position_embeddings,
        })
        return config
