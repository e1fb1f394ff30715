"""Learned absolute position embeddings."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cloze")
class PositionEmbedding(keras.layers.Layer):
    """Learned position embeddings, one vector per position up to ``sequence_length``.

    Called on a ``(batch, length, hidden)`` tensor, returns the embeddings of
    positions ``0 .. length - 1`` broadcast to that shape, so they can be added.

    Args:
        sequence_length: the longest sequence the layer can embed.
        initializer: initializer of the ``(sequence_length, hidden)`` table.

    Example:
    >>> import numpy as np
    >>> layer = PositionEmbedding(sequence_length=16)
    >>> tuple(layer(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length is None:
            raise ValueError("PositionEmbedding needs sequence_length, got None.")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, inputs_shape[-1]),
            initializer=self.initializer,
            trainable=True,
        )
        self.built = True

    def call(self, inputs):
        length = ops.shape(inputs)[-2]
        positions = ops.convert_to_tensor(self.position_embeddings)[:length, :]
        return ops.broadcast_to(ops.cast(positions, self.compute_dtype), ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        })
        return config
