"""ALBERT: BERT with a factorized embedding and encoder blocks shared across layers."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import (BERT_LAYER_NORM_EPSILON,
                                                  KERAS_HUB_HEAD_LAYER_NORM_EPSILON,
                                                  bert_embeddings, bert_inputs,
                                                  bert_kernel_initializer, bert_outputs)
from cloze.models.layers.activations import gelu_approximate
from cloze.models.layers.transformer_encoder import TransformerEncoder


@keras.saving.register_keras_serializable(package="cloze")
class AlbertBackbone(Backbone):
    """The ALBERT encoder (Lan et al., 2019), with keras-hub's constructor.

    Two changes to BERT cut the parameter count. Tokens are embedded at the
    narrow ``embedding_dim`` and projected to ``hidden_dim``. The ``num_layers``
    layers are split into ``num_groups`` runs of consecutive layers; every layer
    of a run reuses its group's block of ``num_inner_repetitions`` encoders, so
    the encoder's weights grow with ``num_groups``, not with ``num_layers``.

    Inputs and outputs are those of ``BertBackbone``. The masked-LM head is
    tied to the ``embedding_dim``-wide token embedding. The defaults reproduce
    keras-hub's ``AlbertBackbone`` and ``AlbertMaskedLM`` exactly; Hugging Face
    checkpoints want ``masked_lm_layer_norm_epsilon=1e-12`` and their ``hidden_act``.

    Args:
        vocabulary_size: number of token ids.
        num_layers: layers the input passes through; a multiple of ``num_groups``.
        num_heads: attention heads per encoder.
        embedding_dim: width of the token, position and segment embeddings.
        hidden_dim: width of the encoders and the pooler.
        intermediate_dim: feed-forward width.
        num_groups: groups of encoders with weights of their own.
        num_inner_repetitions: encoders in each group, applied in turn per layer.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input (size of the position table).
        num_segments: number of segment ids.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.
        activation: activation of the encoders' feed-forward layers and of the
            masked-LM head's transform.
        masked_lm_layer_norm_epsilon: epsilon of the masked-LM head's layer norm.

    Example:
    >>> import numpy as np
    >>> backbone = AlbertBackbone(vocabulary_size=100, num_layers=4, num_heads=2,
    ...                           embedding_dim=8, hidden_dim=16, intermediate_dim=32,
    ...                           num_groups=2, max_sequence_length=32)
    >>> outputs = backbone({"token_ids": np.ones((1, 8), "int32"),
    ...                     "segment_ids": np.zeros((1, 8), "int32"),
    ...                     "padding_mask": np.ones((1, 8), "int32")})
    >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
    ((1, 8, 16), (1, 16))
    >>> backbone.token_embedding.output_dim
    8
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, embedding_dim, hidden_dim,
                 intermediate_dim, num_groups=1, num_inner_repetitions=1, dropout=0.0,
                 max_sequence_length=512, num_segments=2, dtype=None,
                 activation=gelu_approximate,
                 masked_lm_layer_norm_epsilon=KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        if num_groups < 1 or num_layers % num_groups:
            raise ValueError(
                f"AlbertBackbone needs num_layers to be a multiple of num_groups >= 1; got "
                f"num_layers={num_layers} and num_groups={num_groups}.")
        activation = keras.activations.get(activation)
        inputs = bert_inputs()
        token_embedding, x = bert_embeddings(
            inputs["token_ids"], inputs["segment_ids"], vocabulary_size, embedding_dim,
            max_sequence_length, num_segments, dropout, dtype)
        x = keras.layers.Dense(hidden_dim, kernel_initializer=bert_kernel_initializer(),
                               dtype=dtype, name="embedding_projection")(x)
        groups = [
            [TransformerEncoder(
                intermediate_dim, num_heads, dropout=dropout, activation=activation,
                layer_norm_epsilon=BERT_LAYER_NORM_EPSILON,
                kernel_initializer=bert_kernel_initializer(), dtype=dtype,
                name=f"group_{group}_inner_layer_{inner}")
             for inner in range(num_inner_repetitions)]
            for group in range(num_groups)
        ]
        layers_per_group = num_layers // num_groups
        for layer in range(num_layers):
            for encoder in groups[layer // layers_per_group]:
                x = encoder(x, padding_mask=inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=bert_outputs(x, hidden_dim, dtype), dtype=dtype,
                         **kwargs)
        self._record_config(
            token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, embedding_dim=embedding_dim, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, num_groups=num_groups,
            num_inner_repetitions=num_inner_repetitions, dropout=dropout,
            max_sequence_length=max_sequence_length, num_segments=num_segments,
            activation=activation, masked_lm_layer_norm_epsilon=masked_lm_layer_norm_epsilon)

    def masked_lm_head_config(self):
        # ALBERT's transform layer reuses the encoder's activation (keras-hub and
        # Hugging Face agree) and projects down to embedding_dim for the tied output.
        return {"intermediate_activation": self.activation,
                "layer_norm_epsilon": self.masked_lm_layer_norm_epsilon,
                "kernel_initializer": bert_kernel_initializer()}
