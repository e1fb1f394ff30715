"""Dense products over every position at once, as one 2-D matrix product."""
import keras
from keras import ops

from cloze.models.layers.affine import add_bias


def matmul_rows(inputs, kernel):
    """``inputs @ kernel`` for ``(..., in)`` inputs as one ``(rows, in) x (in, out)`` product.

    On TensorFlow, Keras' ``ops.matmul`` of a ``(batch, length, in)`` input
    against a 2-D kernel is a batched product that broadcasts the kernel: one
    small product per sequence, and in the backward pass one ``in x out`` kernel
    gradient per sequence, summed afterwards. Folding the leading axes into rows
    first gives the same numbers (up to float32 summation order) from one large
    product, which oneDNN and XLA both run faster.

    Example:
    >>> import numpy as np
    >>> tuple(matmul_rows(np.ones((2, 3, 4), "float32"), np.ones((4, 5), "float32")).shape)
    (2, 3, 5)
    """
    shape = ops.shape(inputs)
    rows = ops.matmul(ops.reshape(inputs, (-1, shape[-1])), kernel)
    return ops.reshape(rows, (*shape[:-1], ops.shape(kernel)[-1]))


@keras.saving.register_keras_serializable(package="cloze")
class Dense(keras.layers.Dense):
    """``keras.layers.Dense`` whose product over a sequence is one 2-D product.

    Same weights, names and config as Keras' layer; only the float product is
    computed by ``matmul_rows`` and the bias added by ``add_bias``, whose gradient
    is a matrix product too (LoRA comes in through ``kernel``; a quantized layer
    runs Keras' own ``quantized_call``).

    Args:
        units: output width.
        **kwargs: passed to ``keras.layers.Dense``.

    Example:
    >>> import numpy as np
    >>> layer = Dense(5, activation="relu")
    >>> tuple(layer(np.ones((2, 3, 4), "float32")).shape)
    (2, 3, 5)
    """

    def call(self, inputs, training=None):
        x = matmul_rows(inputs, self.kernel)
        if self.bias is not None:
            x = add_bias(x, ops.cast(self.bias, x.dtype))
        if self.activation is not None:
            x = self.activation(x)
        return x
