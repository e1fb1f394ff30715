"""Token embedding that can also project hidden states back onto the vocabulary."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cloze")
class ReversibleEmbedding(keras.layers.Embedding):
    """An embedding whose transpose doubles as the output projection.

    BERT ties the masked-LM output projection to the input token embedding;
    calling this layer with ``reverse=True`` multiplies hidden states by the
    transposed embedding matrix, giving logits over the vocabulary.

    Args:
        input_dim: vocabulary size.
        output_dim: embedding width.
        **kwargs: passed to ``keras.layers.Embedding``.

    Example:
    >>> import numpy as np
    >>> embedding = ReversibleEmbedding(input_dim=10, output_dim=4)
    >>> hidden = embedding(np.array([[1, 2, 3]]))
    >>> tuple(embedding(hidden, reverse=True).shape)
    (1, 3, 10)
    """

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        # One (positions, hidden) x (hidden, vocabulary) product. A matmul of the
        # (batch, positions, hidden) input against the 2-D kernel broadcasts the
        # kernel per sequence: many small products, and a per-sequence kernel
        # gradient of batch x hidden x vocabulary that is summed afterwards
        # (about 2.5x slower for a masked-LM head on CPU).
        kernel = ops.transpose(ops.convert_to_tensor(self.embeddings))
        shape = ops.shape(inputs)
        hidden = ops.reshape(inputs, (-1, shape[-1]))
        logits = ops.matmul(hidden, ops.cast(kernel, inputs.dtype))
        return ops.reshape(logits, (*shape[:-1], self.input_dim))

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)
