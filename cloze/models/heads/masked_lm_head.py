"""The masked-LM head: predicts the original token at each masked position."""
import keras
from keras import ops

from cloze.models.layers.dense import Dense, matmul_rows
from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.rows import take_rows


@keras.saving.register_keras_serializable(package="cloze")
class MaskedLMHead(keras.layers.Layer):
    """Gathers hidden states at ``mask_positions`` and scores every vocabulary token.

    Only the masked positions go through the transform and the vocabulary
    projection, so the cost is ``masks x vocabulary`` rather than
    ``length x vocabulary``. With ``token_embedding`` the projection is tied to
    the input embedding (BERT); otherwise the head owns its kernel. Called without
    ``mask_positions``, the inputs are the hidden states at the masked positions
    already (``Backbone.masked_hidden_states``).

    Args:
        vocabulary_size: output classes; taken from ``token_embedding`` when given.
        token_embedding: a ``ReversibleEmbedding`` to tie the projection to.
        intermediate_activation: activation of the transform dense layer.
        activation: applied to the logits; ``"softmax"`` returns probabilities.
        layer_norm_epsilon: epsilon of the transform layer norm.
        kernel_initializer: initializer of the transform (and untied output) kernel.
        bias_initializer: initializer of the biases.

    Example:
    >>> import numpy as np
    >>> head = MaskedLMHead(vocabulary_size=30)
    >>> hidden = np.random.rand(2, 10, 8).astype("float32")
    >>> tuple(head(hidden, mask_positions=np.array([[1, 4], [0, 9]])).shape)
    (2, 2, 30)
    """

    def __init__(self, vocabulary_size=None, token_embedding=None,
                 intermediate_activation="relu", activation=None, layer_norm_epsilon=1e-05,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs, autocast=False)
        if vocabulary_size is None and token_embedding is None:
            raise ValueError("MaskedLMHead needs vocabulary_size or token_embedding; got neither.")
        if token_embedding is not None:
            if vocabulary_size not in (None, token_embedding.input_dim):
                raise ValueError(
                    f"vocabulary_size={vocabulary_size} does not match "
                    f"token_embedding.input_dim={token_embedding.input_dim}.")
            vocabulary_size = token_embedding.input_dim
        self.vocabulary_size = vocabulary_size
        self.token_embedding = token_embedding
        self.intermediate_activation = keras.activations.get(intermediate_activation)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, inputs_shape, mask_positions_shape=None):
        width = (self.token_embedding.output_dim if self.token_embedding is not None
                 else inputs_shape[-1])
        self._intermediate_dense = Dense(
            width, activation=self.intermediate_activation,
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy, name="intermediate_dense")
        self._intermediate_dense.build((None, None, inputs_shape[-1]))
        self._intermediate_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="intermediate_layer_norm")
        self._intermediate_layer_norm.build((None, None, width))
        if self.token_embedding is None:
            self._kernel = self.add_weight(
                name="output_kernel", shape=(width, self.vocabulary_size),
                initializer=self.kernel_initializer, dtype=self.dtype)
        self._bias = self.add_weight(name="output_bias", shape=(self.vocabulary_size,),
                                     initializer=self.bias_initializer, dtype=self.dtype)
        self.built = True

    def call(self, inputs, mask_positions=None):
        x = inputs if mask_positions is None else take_rows(inputs, mask_positions)
        x = self._intermediate_layer_norm(self._intermediate_dense(x))
        if self.token_embedding is not None:
            logits = self.token_embedding(x, reverse=True)
        else:
            logits = matmul_rows(x, ops.cast(self._kernel, x.dtype))
        # Logits leave the head in float32 so softmax and the loss stay stable
        # under mixed precision.
        logits = ops.cast(logits, "float32") + ops.cast(self._bias, "float32")
        if self.activation is not None:
            logits = self.activation(logits)
        return logits

    def compute_output_shape(self, inputs_shape, mask_positions_shape=None):
        rows = inputs_shape[:-1] if mask_positions_shape is None else mask_positions_shape
        return tuple(rows) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "token_embedding": (keras.layers.serialize(self.token_embedding)
                                if self.token_embedding is not None else None),
            "intermediate_activation": keras.activations.serialize(self.intermediate_activation),
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config

    @classmethod
    def from_config(cls, config):
        if config.get("token_embedding"):
            config["token_embedding"] = keras.layers.deserialize(config["token_embedding"])
        return super().from_config(config)
