"""The FNet block: Fourier token mixing in place of self-attention."""
import keras
from keras import ops

from cloze.models.layers.dense import Dense
from cloze.models.layers.layer_normalization import LayerNormalization


def fourier_mixing(x):
    """The real part of the 2-D discrete Fourier transform over (sequence, hidden).

    Example:
    >>> import numpy as np
    >>> x = np.random.rand(1, 4, 3).astype("float32")
    >>> expected = np.fft.fft2(x).real
    >>> bool(np.allclose(ops.convert_to_numpy(fourier_mixing(x)), expected, atol=1e-5))
    True
    """
    dtype = x.dtype
    # The FFT kernels have no float16 version.
    x = ops.cast(x, "float32")
    real, _ = ops.fft2((x, ops.zeros_like(x)))
    return ops.cast(real, dtype)


@keras.saving.register_keras_serializable(package="cloze")
class FNetEncoder(keras.layers.Layer):
    """Fourier mixing plus a feed-forward network, each with a residual and a post layer norm.

    The mixing sub-layer has no weights and no dropout (Lee-Thorp et al., 2021).
    It cannot skip padding, so FNet takes no padding mask: pad to a fixed length.
    Sub-layer attribute names match keras-hub's ``FNetEncoder`` so the saved
    weight paths are the same.

    Args:
        intermediate_dim: width of the feed-forward hidden layer.
        dropout: dropout rate of the feed-forward output.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of both layer norms.
        kernel_initializer: initializer of both dense kernels.
        bias_initializer: initializer of both dense biases.

    Example:
    >>> import numpy as np
    >>> block = FNetEncoder(intermediate_dim=16)
    >>> tuple(block(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 5, 8)
    """

    def __init__(self, intermediate_dim, dropout=0.0, activation="relu", layer_norm_epsilon=1e-5,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @staticmethod
    def _fresh(initializer):
        # Each sub-layer gets its own copy so seeded initializers do not repeat values.
        return initializer.__class__.from_config(initializer.get_config())

    def build(self, inputs_shape):
        self._mixing_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="mixing_layer_norm")
        self._mixing_layer_norm.build(inputs_shape)
        self._output_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="output_layer_norm")
        self._output_layer_norm.build(inputs_shape)
        self._intermediate_dense = Dense(
            self.intermediate_dim, activation=self.activation,
            kernel_initializer=self._fresh(self.kernel_initializer),
            bias_initializer=self._fresh(self.bias_initializer), dtype=self.dtype_policy,
            name="intermediate_dense")
        self._intermediate_dense.build(inputs_shape)
        self._output_dense = Dense(
            inputs_shape[-1], kernel_initializer=self._fresh(self.kernel_initializer),
            bias_initializer=self._fresh(self.bias_initializer), dtype=self.dtype_policy,
            name="output_dense")
        self._output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self._output_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="output_dropout")
        self.built = True

    def call(self, inputs, training=None):
        x = self._mixing_layer_norm(inputs + fourier_mixing(inputs))
        y = self._output_dense(self._intermediate_dense(x))
        return self._output_layer_norm(x + self._output_dropout(y, training=training))

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
