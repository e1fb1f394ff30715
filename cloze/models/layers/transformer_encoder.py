"""The encoder block every BERT-family backbone stacks."""
import keras
from keras import ops

from cloze.models.layers.dense import Dense
from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.multi_head_attention import MultiHeadAttention
from cloze.models.layers.relative_position_attention import RelativePositionAttention
from cloze.models.layers.rows import take_rows


def padding_attention_mask(padding_mask, query_length):
    """A ``(batch, query, key)`` boolean mask that hides padded keys."""
    keys = ops.cast(padding_mask, "bool")[:, None, :]
    return ops.broadcast_to(keys, (ops.shape(keys)[0], query_length, ops.shape(keys)[-1]))


@keras.saving.register_keras_serializable(package="cloze")
class TransformerEncoder(keras.layers.Layer):
    """Self-attention plus a feed-forward network, each with a residual and a layer norm.

    ``normalize_first=False`` is BERT's post-LayerNorm block (norm after each
    residual sum); ``True`` is the pre-LayerNorm block of RoBERTa-PreLN and GPT-2.
    Sub-layer attribute names match keras-hub's ``TransformerEncoder`` so the
    saved weight paths are the same. A subclass swaps in another attention by
    overriding ``_build_self_attention`` and calling ``_encode`` from its ``call``
    (``DisentangledAttentionEncoder`` does).

    ``query_positions`` ``(batch, count)`` computes the block's output at those
    positions only, ``(batch, count, width)``: every position is still a key and
    a value, but the queries, the attention output and the feed-forward network
    cover just ``count`` rows. A masked-LM task reads the last block's output only
    at the masked positions, so there this is the same numbers for a fraction of
    the work (``rows_only``: plain, bidirectional attention).

    Args:
        intermediate_dim: width of the feed-forward hidden layer.
        num_heads: attention heads; the input width must be divisible by it.
        dropout: dropout rate of attention probabilities and both residual branches.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of both layer norms.
        kernel_initializer: initializer of every kernel.
        normalize_first: pre-LayerNorm when True.
        causal: each position attends only to itself and earlier positions
            (a decoder's self-attention).
        relative_attention: None for plain dot-product attention, or
            ``"relative_key"`` / ``"relative_key_query"`` for
            ``RelativePositionAttention``.
        max_position_embeddings: size parameter of the relative-distance table;
            required with ``relative_attention``.

    Example:
    >>> import numpy as np
    >>> block = TransformerEncoder(intermediate_dim=16, num_heads=2)
    >>> x = np.random.rand(2, 5, 8).astype("float32")
    >>> tuple(block(x, padding_mask=np.ones((2, 5), "int32")).shape)
    (2, 5, 8)
    >>> rows = block(x, padding_mask=np.ones((2, 5), "int32"),
    ...              query_positions=np.array([[0, 3], [4, 4]]))
    >>> tuple(rows.shape)
    (2, 2, 8)
    """

    def __init__(self, intermediate_dim, num_heads, dropout=0.0, activation="relu",
                 layer_norm_epsilon=1e-5, kernel_initializer="glorot_uniform",
                 normalize_first=False, causal=False, relative_attention=None,
                 max_position_embeddings=None, **kwargs):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.normalize_first = normalize_first
        self.causal = causal
        self.relative_attention = relative_attention
        self.max_position_embeddings = max_position_embeddings

    def _initializer(self):
        # Each sub-layer gets a fresh initializer so seeded initializers do not
        # hand identical values to every kernel.
        return self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config())

    def _build_self_attention(self, inputs_shape):
        """The built self-attention sub-layer; subclasses swap in another attention here."""
        hidden_dim = inputs_shape[-1]
        attention_kwargs = dict(
            num_heads=self.num_heads, key_dim=hidden_dim // self.num_heads,
            dropout=self.dropout, kernel_initializer=self._initializer(),
            dtype=self.dtype_policy, name="self_attention_layer")
        if self.relative_attention is None:
            attention = MultiHeadAttention(**attention_kwargs)
        else:
            attention = RelativePositionAttention(
                position_embedding_type=self.relative_attention,
                max_position_embeddings=self.max_position_embeddings, **attention_kwargs)
        attention.build(query_shape=inputs_shape, value_shape=inputs_shape)
        return attention

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(f"hidden width {hidden_dim} is not divisible by "
                             f"num_heads={self.num_heads}.")
        self._self_attention_layer = self._build_self_attention(inputs_shape)
        self._self_attention_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="self_attention_layer_norm")
        self._self_attention_layer_norm.build(inputs_shape)
        self._self_attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="self_attention_dropout")
        self._feedforward_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="feedforward_layer_norm")
        self._feedforward_layer_norm.build(inputs_shape)
        self._feedforward_intermediate_dense = Dense(
            self.intermediate_dim, activation=self.activation,
            kernel_initializer=self._initializer(), dtype=self.dtype_policy,
            name="feedforward_intermediate_dense")
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense = Dense(
            hidden_dim, kernel_initializer=self._initializer(), dtype=self.dtype_policy,
            name="feedforward_output_dense")
        self._feedforward_output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self._feedforward_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="feedforward_dropout")
        self.built = True

    @property
    def rows_only(self):
        """Whether ``call`` accepts ``query_positions``: plain bidirectional attention
        (relative positions and causal masks are laid out for whole sequences)."""
        return type(self).call is TransformerEncoder.call and (
            self.relative_attention is None and not self.causal)

    def _residual(self, x, branch, norm, residual=None):
        """Applies ``branch`` to ``x`` with a residual connection, normalising pre or post.
        The residual is ``x`` itself, or ``residual``: the rows of ``x`` that ``branch``
        returns when it computes only some positions."""
        y = norm(x) if self.normalize_first else x
        y = (x if residual is None else residual) + branch(y)
        return y if self.normalize_first else norm(y)

    def _encode(self, inputs, attend, training, query_positions=None):
        """The block around ``attend``, which maps ``x`` to the self-attention sub-layer's
        output on ``x`` (at ``query_positions`` only, if given): attention, then the
        feed-forward network, each a residual branch."""

        def attention(x):
            return self._self_attention_dropout(attend(x), training=training)

        def feedforward(x):
            x = self._feedforward_output_dense(self._feedforward_intermediate_dense(x))
            return self._feedforward_dropout(x, training=training)

        rows = None if query_positions is None else take_rows(inputs, query_positions)
        x = self._residual(inputs, attention, self._self_attention_layer_norm, residual=rows)
        return self._residual(x, feedforward, self._feedforward_layer_norm)

    def call(self, inputs, padding_mask=None, training=None, query_positions=None):
        if query_positions is not None and not self.rows_only:
            raise ValueError(f"{self.name}: query_positions needs plain bidirectional "
                             f"attention (causal={self.causal}, "
                             f"relative_attention={self.relative_attention!r}).")
        queries = ops.shape(inputs)[1] if query_positions is None else ops.shape(query_positions)[1]
        mask = None
        if padding_mask is not None:
            mask = padding_attention_mask(padding_mask, queries)

        def attend(x):
            query = x if query_positions is None else take_rows(x, query_positions)
            return self._self_attention_layer(
                query=query, value=x, attention_mask=mask, use_causal_mask=self.causal,
                training=training)

        return self._encode(inputs, attend, training, query_positions)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "normalize_first": self.normalize_first,
            "causal": self.causal,
            "relative_attention": self.relative_attention,
            "max_position_embeddings": self.max_position_embeddings,
        })
        return config
