"""Multi-head attention whose projections are 2-D matrix products."""
import keras
from keras import ops

from cloze.models.layers.affine import add_bias
from cloze.models.layers.dense import matmul_rows


def _project(x, dense, split_heads):
    """``dense`` (an ``EinsumDense`` of Keras' attention) applied as one 2-D product.

    With ``split_heads`` the kernel is ``(width, heads, head_dim)`` and the result
    ``(..., heads, head_dim)``; otherwise ``x`` is ``(..., heads, head_dim)``, the
    kernel ``(heads, head_dim, width)`` and the result ``(..., width)``.
    """
    kernel = ops.cast(dense.kernel, x.dtype)
    if split_heads:
        rows_in, (heads, head_dim) = x, tuple(kernel.shape[1:])
        kernel = ops.reshape(kernel, (kernel.shape[0], heads * head_dim))
    else:
        shape = ops.shape(x)
        rows_in = ops.reshape(x, (*shape[:-2], shape[-2] * shape[-1]))
        kernel = ops.reshape(kernel, (-1, kernel.shape[-1]))
    y = matmul_rows(rows_in, kernel)
    if dense.bias is not None:
        y = add_bias(y, ops.reshape(ops.cast(dense.bias, x.dtype), (kernel.shape[-1],)))
    if split_heads:
        y = ops.reshape(y, (*ops.shape(x)[:-1], heads, head_dim))
    return y


@keras.saving.register_keras_serializable(package="cloze")
class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """``keras.layers.MultiHeadAttention`` with each projection as one 2-D product.

    Keras builds the query, key, value and output projections as ``EinsumDense``
    layers, whose backward pass contracts two axes at once: on TensorFlow, one
    kernel gradient per sequence, summed afterwards, and each bias gradient by
    XLA's one-thread windowed reduction. Here the same kernels, reshaped, go
    through ``matmul_rows`` and ``add_bias``. Weights, names, config and the
    attention itself (``_compute_attention``) are Keras'. Calls with Keras masks
    on the inputs, ``query_mask``/``value_mask``/``key_mask`` or
    ``return_attention_scores`` run Keras' own ``call``.

    Example:
    >>> import numpy as np
    >>> attention = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.random.rand(2, 5, 8).astype("float32")
    >>> tuple(attention(query=x[:, :3], value=x).shape)
    (2, 3, 8)
    """

    def call(self, query, value, key=None, attention_mask=None, training=None,
             use_causal_mask=False, **kwargs):
        key = value if key is None else key
        keras_masks = any(getattr(x, "_keras_mask", None) is not None
                          for x in (query, value, key))
        if kwargs or keras_masks or len(query.shape) != 3 or self._output_shape is not None:
            return super().call(query, value, key=key, attention_mask=attention_mask,
                                training=training, use_causal_mask=use_causal_mask, **kwargs)
        attention_mask = self._compute_attention_mask(
            query, value, attention_mask=attention_mask, use_causal_mask=use_causal_mask)
        output, _ = self._compute_attention(
            _project(query, self._query_dense, True), _project(key, self._key_dense, True),
            _project(value, self._value_dense, True), attention_mask, training)
        return _project(output, self._output_dense, False)

    def _masked_softmax(self, attention_scores, attention_mask=None):
        # Keras adds a large negative number at masked keys. XLA fuses that add into
        # the scores' matrix product as a broadcast post-op, which oneDNN ran about
        # 20x slower under mixed_bfloat16 (700 of a BERT-tiny step's 1,160 ms).
        # Selecting instead gives the same probabilities (exp underflows to 0 either
        # way; fully masked rows are zeroed as Keras does) and stays unfused.
        if attention_mask is None:
            return super()._masked_softmax(attention_scores)
        mask = ops.cast(attention_mask, "bool")
        while len(mask.shape) < len(attention_scores.shape):
            mask = ops.expand_dims(mask, -len(self._attention_axes) * 2 - 1)
        large_negative = -3e4 if attention_scores.dtype == "float16" else -1e9
        scores = ops.where(mask, attention_scores,
                           ops.cast(large_negative, attention_scores.dtype))
        probabilities = self._softmax(scores)
        return probabilities * ops.cast(mask, probabilities.dtype)
