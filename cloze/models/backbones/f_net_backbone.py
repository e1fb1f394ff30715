"""FNet: BERT's embeddings and pooler around Fourier-mixing blocks, without attention."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import (BERT_LAYER_NORM_EPSILON,
                                                  KERAS_HUB_HEAD_LAYER_NORM_EPSILON,
                                                  bert_outputs)
from cloze.models.layers.activations import gelu_approximate
from cloze.models.layers.f_net_encoder import FNetEncoder
from cloze.models.layers.text_embeddings import TextEmbeddings


def f_net_initializer(stddev=0.02):
    # FNet initialises kernels and biases alike from an untruncated normal.
    return keras.initializers.RandomNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="cloze")
class FNetBackbone(Backbone):
    """The FNet encoder (Lee-Thorp et al., 2021), with keras-hub's constructor.

    Token, position and segment embeddings are summed and layer-normalised,
    projected by a dense layer and dropped out; ``FNetEncoder`` blocks (Fourier
    mixing, tanh-approximate GELU feed-forward) follow. Fourier mixing spans the
    whole sequence, pads included, so there is no ``padding_mask`` input: the
    inputs are a dict of ``token_ids`` and ``segment_ids`` (each ``(batch, length)``
    int32), and every output depends on the padded length. Outputs are
    ``sequence_output`` ``(batch, length, hidden_dim)`` and ``pooled_output``
    ``(batch, hidden_dim)``, BERT's tanh pooler over the first position.

    The default masked-LM head matches keras-hub's ``FNetMaskedLM`` (exact GELU,
    epsilon 1e-5); Hugging Face checkpoints want
    ``masked_lm_activation=gelu_approximate`` and ``masked_lm_layer_norm_epsilon=1e-12``.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input (size of the position table).
        num_segments: number of segment ids.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.
        masked_lm_activation: activation of the masked-LM head's transform.
        masked_lm_layer_norm_epsilon: epsilon of the masked-LM head's layer norm.

    Example:
    >>> import numpy as np
    >>> backbone = FNetBackbone(vocabulary_size=100, num_layers=2, hidden_dim=16,
    ...                         intermediate_dim=32, max_sequence_length=32)
    >>> outputs = backbone({"token_ids": np.ones((1, 8), "int32"),
    ...                     "segment_ids": np.zeros((1, 8), "int32")})
    >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
    ((1, 8, 16), (1, 16))
    """

    def __init__(self, vocabulary_size, num_layers, hidden_dim, intermediate_dim, dropout=0.1,
                 max_sequence_length=512, num_segments=4, dtype=None,
                 masked_lm_activation="gelu",
                 masked_lm_layer_norm_epsilon=KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        masked_lm_activation = keras.activations.get(masked_lm_activation)
        # Dropout comes after the projection, so the embeddings layer itself drops nothing.
        embeddings = TextEmbeddings(
            vocabulary_size, hidden_dim, max_sequence_length, num_segments=num_segments,
            position_ids="sequential", layer_norm_epsilon=BERT_LAYER_NORM_EPSILON, dropout=0.0,
            dtype=dtype, name="embeddings")
        projection = keras.layers.Dense(
            hidden_dim, kernel_initializer=f_net_initializer(),
            bias_initializer=f_net_initializer(), dtype=dtype, name="embedding_projection")
        embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="embeddings_dropout")
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in ("token_ids", "segment_ids")}
        x = embeddings(inputs["token_ids"], inputs["segment_ids"])
        x = embeddings_dropout(projection(x))
        for i in range(num_layers):
            x = FNetEncoder(
                intermediate_dim, dropout=dropout, activation=gelu_approximate,
                layer_norm_epsilon=BERT_LAYER_NORM_EPSILON, kernel_initializer=f_net_initializer(),
                bias_initializer=f_net_initializer(), dtype=dtype, name=f"f_net_layer_{i}")(x)
        super().__init__(inputs=inputs, outputs=bert_outputs(x, hidden_dim, dtype), dtype=dtype,
                         **kwargs)
        self._record_config(
            embeddings.token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            hidden_dim=hidden_dim, intermediate_dim=intermediate_dim, dropout=dropout,
            max_sequence_length=max_sequence_length, num_segments=num_segments,
            masked_lm_activation=masked_lm_activation,
            masked_lm_layer_norm_epsilon=masked_lm_layer_norm_epsilon)

    def masked_lm_head_config(self):
        return {"intermediate_activation": self.masked_lm_activation,
                "layer_norm_epsilon": self.masked_lm_layer_norm_epsilon,
                "kernel_initializer": f_net_initializer()}
