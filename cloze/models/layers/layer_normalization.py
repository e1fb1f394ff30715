"""Layer normalisation whose parameter gradients are matrix products."""
import keras
from keras import ops

from cloze.models.layers.affine import scale_and_shift


@keras.saving.register_keras_serializable(package="cloze")
class LayerNormalization(keras.layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` over the last axis, with ``gamma`` and ``beta``
    applied by ``scale_and_shift``.

    Same weights, names and config as Keras' layer, and the same arithmetic in at
    least float32 under mixed precision; the gradients of ``gamma`` and ``beta``
    are summed over positions by a matrix product instead of XLA's one-thread
    windowed reduction (``cloze.models.layers.affine``). Other settings (another
    axis, RMS scaling, no centre or scale) run Keras' own code.

    Example:
    >>> import numpy as np
    >>> norm = LayerNormalization(epsilon=1e-12)
    >>> y = norm(np.array([[1.0, 2.0, 3.0]], "float32")).numpy()
    >>> bool(abs(y.mean()) < 1e-6 and abs(y.std() - 1) < 1e-4)
    True
    """

    def call(self, inputs):
        if self.axis not in (-1, [-1], [len(inputs.shape) - 1]) or self.rms_scaling or not (
                self.center and self.scale):
            return super().call(inputs)
        dtype = "float64" if inputs.dtype == "float64" else "float32"
        x = ops.cast(inputs, dtype)
        mean, variance = ops.moments(x, axes=[-1], keepdims=True)
        normalized = (x - mean) * ops.rsqrt(variance + self.epsilon)
        outputs = scale_and_shift(normalized, ops.cast(self.gamma, dtype),
                                  ops.cast(self.beta, dtype))
        return ops.cast(outputs, self.compute_dtype)
