"""DistilBERT: a six-layer BERT without segments or pooler, distilled from BERT."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import (BERT_LAYER_NORM_EPSILON,
                                                  KERAS_HUB_HEAD_LAYER_NORM_EPSILON,
                                                  bert_kernel_initializer)
from cloze.models.backbones.roberta_backbone import encoder_graph
from cloze.models.layers.text_embeddings import TextEmbeddings


@keras.saving.register_keras_serializable(package="cloze")
class DistilBertBackbone(Backbone):
    """The DistilBERT encoder (Sanh et al., 2019), with keras-hub's constructor.

    BERT's post-LayerNorm blocks (exact GELU, epsilon 1e-12) over token and
    position embeddings (positions ``0 .. length - 1``); no segments, no pooler.
    Inputs are a dict of ``token_ids`` and ``padding_mask`` (each
    ``(batch, length)`` int32); the output ``sequence_output`` is
    ``(batch, length, hidden_dim)``.

    The default masked-LM head matches keras-hub's ``DistilBertMaskedLM``
    (layer norm epsilon 1e-5); Hugging Face checkpoints want
    ``masked_lm_layer_norm_epsilon=1e-12``.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input (size of the position table).
        dtype: dtype or ``keras.DTypePolicy`` of every layer.
        masked_lm_layer_norm_epsilon: epsilon of the masked-LM head's layer norm.

    Example:
    >>> import numpy as np
    >>> backbone = DistilBertBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                               hidden_dim=16, intermediate_dim=32,
    ...                               max_sequence_length=32)
    >>> outputs = backbone({"token_ids": np.ones((1, 8), "int32"),
    ...                     "padding_mask": np.ones((1, 8), "int32")})
    >>> tuple(outputs["sequence_output"].shape)
    (1, 8, 16)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=512, dtype=None,
                 masked_lm_layer_norm_epsilon=KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        embeddings = TextEmbeddings(
            vocabulary_size, hidden_dim, max_sequence_length, position_ids="sequential",
            layer_norm_epsilon=BERT_LAYER_NORM_EPSILON, dropout=dropout, dtype=dtype,
            name="embeddings")
        inputs, outputs = encoder_graph(
            embeddings, num_layers, intermediate_dim=intermediate_dim, num_heads=num_heads,
            dropout=dropout, activation=keras.activations.gelu,
            layer_norm_epsilon=BERT_LAYER_NORM_EPSILON,
            kernel_initializer=bert_kernel_initializer(), dtype=dtype)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        self._record_config(
            embeddings.token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
            dropout=dropout, max_sequence_length=max_sequence_length,
            masked_lm_layer_norm_epsilon=masked_lm_layer_norm_epsilon)

    def masked_lm_head_config(self):
        # DistilBERT's vocab transform: dense + exact GELU + LayerNorm, tied projector plus bias.
        return {"intermediate_activation": keras.activations.gelu,
                "layer_norm_epsilon": self.masked_lm_layer_norm_epsilon,
                "kernel_initializer": bert_kernel_initializer()}
