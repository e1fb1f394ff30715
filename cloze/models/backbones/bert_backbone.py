"""BERT: post-LayerNorm Transformer encoder with token, position and segment embeddings."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.layers.activations import gelu_approximate
from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.position_embedding import PositionEmbedding
from cloze.models.layers.reversible_embedding import ReversibleEmbedding
from cloze.models.layers.transformer_encoder import TransformerEncoder

# BERT's layer norms use 1e-12 (google-research/bert and Hugging Face agree).
BERT_LAYER_NORM_EPSILON = 1e-12
# keras-hub's masked-LM head keeps keras' LayerNormalization default instead.
KERAS_HUB_HEAD_LAYER_NORM_EPSILON = 1e-5


def bert_kernel_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def bert_embeddings(token_ids, segment_ids, vocabulary_size, embedding_dim,
                    max_sequence_length, num_segments, dropout, dtype):
    """Embeds ``token_ids`` and ``segment_ids`` the way BERT and ALBERT do.

    Token, position and segment embeddings of width ``embedding_dim`` are summed,
    layer-normalised and dropped out. Returns ``(token_embedding, embedded)`` so
    the caller can tie its masked-LM head to the token embedding.
    """
    token_embedding = ReversibleEmbedding(
        vocabulary_size, embedding_dim, embeddings_initializer=bert_kernel_initializer(),
        dtype=dtype, name="token_embedding")
    position_embedding = PositionEmbedding(
        max_sequence_length, initializer=bert_kernel_initializer(), dtype=dtype,
        name="position_embedding")
    segment_embedding = keras.layers.Embedding(
        num_segments, embedding_dim, embeddings_initializer=bert_kernel_initializer(),
        dtype=dtype, name="segment_embedding")
    tokens = token_embedding(token_ids)
    x = keras.layers.Add(dtype=dtype, name="embeddings_add")(
        (tokens, position_embedding(tokens), segment_embedding(segment_ids)))
    x = LayerNormalization(
        epsilon=BERT_LAYER_NORM_EPSILON, dtype=dtype, name="embeddings_layer_norm")(x)
    return token_embedding, keras.layers.Dropout(dropout, dtype=dtype,
                                                 name="embeddings_dropout")(x)


def bert_outputs(sequence_output, hidden_dim, dtype):
    """``sequence_output`` and BERT's ``pooled_output``: a tanh dense layer over the
    ``[CLS]`` (first) position."""
    pooled_output = keras.layers.Dense(
        hidden_dim, activation="tanh", kernel_initializer=bert_kernel_initializer(),
        dtype=dtype, name="pooled_dense")(sequence_output[:, 0, :])
    return {"sequence_output": sequence_output, "pooled_output": pooled_output}


def bert_inputs():
    """The ``token_ids``, ``segment_ids`` and ``padding_mask`` inputs of BERT-style backbones."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")}


@keras.saving.register_keras_serializable(package="cloze")
class BertBackbone(Backbone):
    """The BERT encoder (Devlin et al., 2018), with keras-hub's constructor.

    Inputs are a dict of ``token_ids``, ``segment_ids`` and ``padding_mask``
    (each ``(batch, length)`` int32); outputs are ``sequence_output``
    ``(batch, length, hidden_dim)`` and ``pooled_output`` ``(batch, hidden_dim)``,
    a tanh dense layer over the ``[CLS]`` position.

    The defaults reproduce keras-hub's ``BertBackbone`` and ``BertMaskedLM``
    exactly (tanh-approximate GELU in the encoder, 1e-5 in the head's layer
    norm). Checkpoints from google-research/bert or Hugging Face want
    ``activation="gelu"`` and ``masked_lm_layer_norm_epsilon=1e-12``.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input (size of the position table).
        num_segments: number of segment ids.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.
        activation: feed-forward activation of the encoder blocks.
        masked_lm_layer_norm_epsilon: epsilon of the masked-LM head's layer norm.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                         hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    >>> outputs = backbone({"token_ids": np.ones((1, 8), "int32"),
    ...                     "segment_ids": np.zeros((1, 8), "int32"),
    ...                     "padding_mask": np.ones((1, 8), "int32")})
    >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
    ((1, 8, 16), (1, 16))
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim,
                 intermediate_dim, dropout=0.1, max_sequence_length=512,
                 num_segments=2, dtype=None, activation=gelu_approximate,
                 masked_lm_layer_norm_epsilon=KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        activation = keras.activations.get(activation)
        inputs = bert_inputs()
        token_embedding, x = bert_embeddings(
            inputs["token_ids"], inputs["segment_ids"], vocabulary_size, hidden_dim,
            max_sequence_length, num_segments, dropout, dtype)
        for i in range(num_layers):
            x = TransformerEncoder(
                intermediate_dim, num_heads, dropout=dropout, activation=activation,
                layer_norm_epsilon=BERT_LAYER_NORM_EPSILON,
                kernel_initializer=bert_kernel_initializer(), dtype=dtype,
                name=f"transformer_layer_{i}")(x, padding_mask=inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=bert_outputs(x, hidden_dim, dtype), dtype=dtype,
                         **kwargs)
        self._record_config(
            token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
            dropout=dropout, max_sequence_length=max_sequence_length, num_segments=num_segments,
            activation=activation, masked_lm_layer_norm_epsilon=masked_lm_layer_norm_epsilon)

    def masked_lm_head_config(self):
        # Exact GELU in the transform layer whatever the encoder uses: keras-hub's
        # BertMaskedLM fixes it, and Hugging Face's BERT checkpoints use it throughout.
        return {"intermediate_activation": keras.activations.gelu,
                "layer_norm_epsilon": self.masked_lm_layer_norm_epsilon,
                "kernel_initializer": bert_kernel_initializer()}


    @classmethod
    def from_config(cls, config):
        # Configs saved before ``activation`` and ``masked_lm_layer_norm_epsilon``
        # existed describe models trained with exact GELU and a 1e-12 head norm.
        return cls(**{"activation": "gelu",
                      "masked_lm_layer_norm_epsilon": BERT_LAYER_NORM_EPSILON, **config})
