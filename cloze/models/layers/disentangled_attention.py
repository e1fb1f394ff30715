"""DeBERTa's disentangled self-attention (He et al., 2021) in its v2/v3 form.

Attention scores add three terms: content-to-content (``q_i . k_j``),
content-to-position (``q_i`` against the key projection of the relative
position of ``i`` and ``j``) and position-to-content (``k_j`` against the query
projection of the same relative position), all scaled by ``1 / sqrt(3 * head_dim)``.
Relative positions are log-bucketed, and one layer-normalised table of
``2 * bucket_size`` position vectors, projected by each layer's own query and
key projections, serves every layer (Hugging Face's ``share_att_key=True``,
``pos_att_type=["p2c", "c2p"]``, ``norm_rel_ebd="layer_norm"``).
"""
import math

import keras
from keras import ops

from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.transformer_encoder import TransformerEncoder, padding_attention_mask

# Content-to-content, content-to-position and position-to-content scores share one scale.
NUM_SCORE_TERMS = 3
# Replaces masked scores (rather than being added), so a fully masked row turns uniform.
MASKED_SCORE = -1e9


def check_buckets(bucket_size, max_position_embeddings):
    """Refuses bucket sizes that leave no room for logarithmic buckets."""
    if bucket_size < 2 or max_position_embeddings - 1 <= bucket_size // 2:
        raise ValueError(f"bucket_size={bucket_size} with max_position_embeddings="
                         f"{max_position_embeddings}: expected bucket_size >= 2 and "
                         f"max_position_embeddings > bucket_size // 2 + 1.")


def log_bucket_relative_positions(length, bucket_size, max_position_embeddings):
    """The bucketed relative position ``i - j`` of query ``i`` and key ``j``, ``(length, length)``.

    Distances up to ``bucket_size // 2`` keep their own bucket; longer ones share
    buckets that widen logarithmically, reaching ``bucket_size - 1`` at distance
    ``max_position_embeddings - 1``. The arithmetic is float32 in Hugging Face's
    order, so bucket boundaries fall exactly where theirs do.

    Example:
    >>> buckets = log_bucket_relative_positions(14, bucket_size=8, max_position_embeddings=64)
    >>> ops.convert_to_numpy(buckets)[0].tolist()
    [0, -1, -2, -3, -4, -5, -5, -5, -5, -5, -5, -6, -6, -6]
    """
    positions = ops.arange(length)
    relative = positions[:, None] - positions[None, :]
    middle = bucket_size // 2
    distance = ops.where(ops.logical_and(relative < middle, relative > -middle),
                         middle - 1, ops.abs(relative))
    log_ratio = ops.log(ops.cast(distance, "float32") / float(middle))
    log_span = ops.log(ops.convert_to_tensor((max_position_embeddings - 1) / middle, "float32"))
    log_bucket = ops.ceil(log_ratio / log_span * float(middle - 1)) + float(middle)
    return ops.where(distance <= middle, relative,
                     ops.cast(log_bucket, relative.dtype) * ops.sign(relative))


def gather_buckets(scores, buckets):
    """``scores[b, n, i, buckets[i, j]]`` for ``scores`` ``(batch, heads, length, table)``.

    One flat ``take`` with indices shared by the batch and the heads, instead of
    broadcasting ``(batch, heads, length, length)`` indices.
    """
    batch, heads, length, table = ops.shape(scores)
    flat_buckets = ops.reshape(buckets + ops.arange(length)[:, None] * table, (-1,))
    gathered = ops.take(ops.reshape(scores, (batch, heads, length * table)), flat_buckets, axis=2)
    return ops.reshape(gathered, (batch, heads, length, length))


@keras.saving.register_keras_serializable(package="cloze")
class RelativeEmbedding(keras.layers.Layer):
    """The table of ``2 * bucket_size`` relative-position vectors, layer-normalised.

    Called on the embedded tokens (only to place it in a functional graph),
    returns the normalised ``(2 * bucket_size, hidden_dim)`` table that every
    ``DisentangledSelfAttention`` of a backbone shares. Names match keras-hub's
    ``RelativeEmbedding``.

    Args:
        hidden_dim: width of each position vector.
        bucket_size: relative-position buckets each way.
        layer_norm_epsilon: epsilon of the layer norm.
        kernel_initializer: initializer of the table.

    Example:
    >>> import numpy as np
    >>> layer = RelativeEmbedding(hidden_dim=8, bucket_size=4)
    >>> tuple(layer(np.zeros((2, 5, 8), "float32")).shape)
    (8, 8)
    """

    def __init__(self, hidden_dim, bucket_size, layer_norm_epsilon=1e-7,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.bucket_size = bucket_size
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, inputs_shape=None):
        self.rel_embedding = self.add_weight(
            name="rel_embedding", shape=(2 * self.bucket_size, self.hidden_dim),
            initializer=self.kernel_initializer)
        self.layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="rel_embeddings_layer_norm")
        self.layer_norm.build((2 * self.bucket_size, self.hidden_dim))
        self.built = True

    def call(self, inputs):
        return self.layer_norm(ops.convert_to_tensor(self.rel_embedding))

    def compute_output_shape(self, inputs_shape):
        return (2 * self.bucket_size, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update({
            "hidden_dim": self.hidden_dim,
            "bucket_size": self.bucket_size,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="cloze")
class DisentangledSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with DeBERTa's content and position terms.

    The relative-position table comes in as ``rel_embeddings`` (a
    ``RelativeEmbedding``'s output) and is projected by this layer's own query
    and key projections. Sub-layer names and kernel shapes match keras-hub's
    ``DisentangledSelfAttention``: ``query``, ``key`` and ``value``
    ``(hidden, heads, head_dim)``, ``attention_output`` ``(hidden, hidden)``.
    Softmax runs in float32. A query whose keys are all masked attends to every
    key alike, as in Hugging Face (Keras' ``Softmax`` would give it zeros).

    Args:
        num_heads: attention heads; ``hidden_dim`` must be divisible by it.
        hidden_dim: input and output width.
        max_position_embeddings: the distance at which log buckets reach the table's end.
        bucket_size: relative-position buckets each way.
        dropout: dropout rate of the position table and of the attention probabilities.
        kernel_initializer: initializer of every kernel.
        bias_initializer: initializer of every bias.

    Example:
    >>> import numpy as np
    >>> layer = DisentangledSelfAttention(num_heads=2, hidden_dim=8, max_position_embeddings=32,
    ...                                   bucket_size=4)
    >>> x = np.random.rand(2, 5, 8).astype("float32")
    >>> tuple(layer(x, rel_embeddings=np.random.rand(8, 8).astype("float32")).shape)
    (2, 5, 8)
    """

    def __init__(self, num_heads, hidden_dim, max_position_embeddings=512, bucket_size=256,
                 dropout=0.0, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}.")
        check_buckets(bucket_size, max_position_embeddings)
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.max_position_embeddings = max_position_embeddings
        self.bucket_size = bucket_size
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.head_dim = hidden_dim // num_heads

    def _einsum_dense(self, equation, output_shape, bias_axes, name):
        # Fresh initializer copies, so seeded initializers do not repeat values.
        return keras.layers.EinsumDense(
            equation, output_shape=output_shape, bias_axes=bias_axes,
            kernel_initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()),
            bias_initializer=self.bias_initializer.__class__.from_config(
                self.bias_initializer.get_config()),
            dtype=self.dtype_policy, name=name)

    def build(self, inputs_shape, rel_embeddings_shape=None):
        for name in ("query", "key", "value"):
            projection = self._einsum_dense("abc,cde->abde", (None, self.num_heads, self.head_dim),
                                            "de", name)
            projection.build(inputs_shape)
            setattr(self, f"_{name}_dense", projection)
        self._output_dense = self._einsum_dense("abc,cd->abd", (None, self.hidden_dim), "d",
                                                "attention_output")
        self._output_dense.build(inputs_shape)
        self._position_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="position_dropout")
        self._attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout")
        self.built = True

    def call(self, inputs, rel_embeddings, attention_mask=None, training=None):
        query = self._query_dense(inputs)  # (batch, length, heads, head_dim)
        key = self._key_dense(inputs)
        value = self._value_dense(inputs)
        positions = self._position_dropout(rel_embeddings, training=training)[None]
        position_query = self._query_dense(positions)[0]  # (2 * bucket_size, heads, head_dim)
        position_key = self._key_dense(positions)[0]
        length = ops.shape(inputs)[1]
        buckets = ops.clip(
            log_bucket_relative_positions(length, self.bucket_size, self.max_position_embeddings)
            + self.bucket_size, 0, 2 * self.bucket_size - 1)
        content = ops.einsum("bind,bjnd->bnij", query, key)
        content_to_position = gather_buckets(
            ops.einsum("bind,rnd->bnir", query, position_key), buckets)
        # Buckets are odd in i - j, so key j's bucket towards query i is buckets[i, j]
        # read from j's side: gather by the transpose, then swap the two position axes.
        position_to_content = ops.swapaxes(gather_buckets(
            ops.einsum("bjnd,rnd->bnjr", key, position_query), ops.transpose(buckets)), 2, 3)
        scores = (content + content_to_position + position_to_content) * ops.cast(
            1.0 / math.sqrt(NUM_SCORE_TERMS * self.head_dim), query.dtype)
        scores = ops.cast(scores, "float32")
        if attention_mask is not None:
            scores = ops.where(attention_mask[:, None, :, :], scores, MASKED_SCORE)
        probabilities = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
        probabilities = self._attention_dropout(probabilities, training=training)
        context = ops.einsum("bnij,bjnd->bind", probabilities, value)
        context = ops.reshape(context, (ops.shape(context)[0], length, self.hidden_dim))
        return self._output_dense(context)

    def compute_output_shape(self, inputs_shape, rel_embeddings_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "bucket_size": self.bucket_size,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="cloze")
class DisentangledAttentionEncoder(TransformerEncoder):
    """BERT's post-LayerNorm block with ``DisentangledSelfAttention`` in place of plain attention.

    Called as ``block(x, rel_embeddings=table, padding_mask=mask)``. As in Hugging
    Face, the mask hides padded keys and also padded queries, whose outputs then
    average every position (keras-hub hides only keys; real tokens agree either
    way). Sub-layer names match keras-hub's ``DisentangledAttentionEncoder`` (and
    ``TransformerEncoder``'s), so the saved weight paths are the same.

    Args:
        intermediate_dim: width of the feed-forward hidden layer.
        num_heads: attention heads.
        max_position_embeddings: see ``DisentangledSelfAttention``.
        bucket_size: relative-position buckets each way.
        dropout: dropout rate of attention and both residual branches.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of both layer norms.
        kernel_initializer: initializer of every kernel.

    Example:
    >>> import numpy as np
    >>> block = DisentangledAttentionEncoder(intermediate_dim=16, num_heads=2,
    ...                                      max_position_embeddings=32, bucket_size=4)
    >>> x = np.random.rand(2, 5, 8).astype("float32")
    >>> table = np.random.rand(8, 8).astype("float32")
    >>> tuple(block(x, rel_embeddings=table, padding_mask=np.ones((2, 5), "int32")).shape)
    (2, 5, 8)
    """

    def __init__(self, intermediate_dim, num_heads, max_position_embeddings=512, bucket_size=256,
                 dropout=0.0, activation="relu", layer_norm_epsilon=1e-5,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(intermediate_dim, num_heads, dropout=dropout, activation=activation,
                         layer_norm_epsilon=layer_norm_epsilon,
                         kernel_initializer=kernel_initializer,
                         max_position_embeddings=max_position_embeddings, **kwargs)
        check_buckets(bucket_size, max_position_embeddings)
        self.bucket_size = bucket_size

    def _build_self_attention(self, inputs_shape):
        attention = DisentangledSelfAttention(
            self.num_heads, inputs_shape[-1], max_position_embeddings=self.max_position_embeddings,
            bucket_size=self.bucket_size, dropout=self.dropout,
            kernel_initializer=self._initializer(), dtype=self.dtype_policy,
            name="self_attention_layer")
        attention.build(inputs_shape)
        return attention

    def call(self, inputs, rel_embeddings, padding_mask=None, training=None):
        mask = None
        if padding_mask is not None:
            mask = ops.logical_and(padding_attention_mask(padding_mask, ops.shape(inputs)[1]),
                                   ops.cast(padding_mask, "bool")[:, :, None])
        return self._encode(
            inputs, lambda x: self._self_attention_layer(
                x, rel_embeddings=rel_embeddings, attention_mask=mask, training=training),
            training)

    def get_config(self):
        config = super().get_config()
        # The block is always post-LayerNorm, bidirectional and disentangled.
        for fixed in ("normalize_first", "causal", "relative_attention"):
            del config[fixed]
        config["bucket_size"] = self.bucket_size
        return config
