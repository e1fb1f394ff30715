"""DeBERTaV3: token embeddings only, with positions entering through disentangled attention."""
import keras
from keras import ops

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import (KERAS_HUB_HEAD_LAYER_NORM_EPSILON,
                                                  bert_kernel_initializer)
from cloze.models.layers.disentangled_attention import (DisentangledAttentionEncoder,
                                                        RelativeEmbedding)
from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.reversible_embedding import ReversibleEmbedding

# Microsoft's DeBERTa checkpoints (and keras-hub's encoder) use 1e-7 in every layer norm.
DEBERTA_LAYER_NORM_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="cloze")
class DebertaV3Backbone(Backbone):
    """The DeBERTaV3 encoder (He et al., 2021), with keras-hub's constructor.

    Inputs are a dict of ``token_ids`` and ``padding_mask`` (each ``(batch, length)``
    int32); the output ``sequence_output`` is ``(batch, length, hidden_dim)``.
    There are no segments, no absolute positions and no pooler: token embeddings
    are layer-normalised, and every block's ``DisentangledSelfAttention`` reads
    positions from one shared, layer-normalised table of ``2 * bucket_size``
    relative-position vectors (``rel_embedding``). Layer names and weight shapes
    are keras-hub's.

    The default masked-LM head matches keras-hub's ``DebertaV3MaskedLM`` (exact
    GELU, layer norm epsilon 1e-5); Hugging Face checkpoints want
    ``masked_lm_layer_norm_epsilon=1e-7``.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the distance at which relative-position buckets end;
            longer inputs run, with farther distances sharing the last bucket.
        bucket_size: relative-position buckets each way.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.
        masked_lm_layer_norm_epsilon: epsilon of the masked-LM head's layer norm.

    Example:
    >>> import numpy as np
    >>> backbone = DebertaV3Backbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                              hidden_dim=16, intermediate_dim=32,
    ...                              max_sequence_length=32, bucket_size=8)
    >>> outputs = backbone({"token_ids": np.array([[1, 5, 6, 2, 0, 0]], "int32"),
    ...                     "padding_mask": np.array([[1, 1, 1, 1, 0, 0]], "int32")})
    >>> tuple(outputs["sequence_output"].shape)
    (1, 6, 16)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=512, bucket_size=256, dtype=None,
                 masked_lm_layer_norm_epsilon=KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in ("token_ids", "padding_mask")}
        token_embedding = ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=bert_kernel_initializer(),
            dtype=dtype, name="token_embedding")
        x = LayerNormalization(
            epsilon=DEBERTA_LAYER_NORM_EPSILON, dtype=dtype, name="embeddings_layer_norm")(
                token_embedding(inputs["token_ids"]))
        # Hugging Face zeroes padded positions here; only their own outputs change.
        x = x * ops.cast(inputs["padding_mask"], x.dtype)[:, :, None]
        x = keras.layers.Dropout(dropout, dtype=dtype, name="embeddings_dropout")(x)
        rel_embeddings = RelativeEmbedding(
            hidden_dim, bucket_size, layer_norm_epsilon=DEBERTA_LAYER_NORM_EPSILON,
            kernel_initializer=bert_kernel_initializer(), dtype=dtype, name="rel_embedding")(x)
        for i in range(num_layers):
            x = DisentangledAttentionEncoder(
                intermediate_dim, num_heads, max_position_embeddings=max_sequence_length,
                bucket_size=bucket_size, dropout=dropout, activation=keras.activations.gelu,
                layer_norm_epsilon=DEBERTA_LAYER_NORM_EPSILON,
                kernel_initializer=bert_kernel_initializer(), dtype=dtype,
                name=f"disentangled_attention_encoder_layer_{i}")(
                    x, rel_embeddings=rel_embeddings, padding_mask=inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs={"sequence_output": x}, dtype=dtype, **kwargs)
        self._record_config(
            token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
            dropout=dropout, max_sequence_length=max_sequence_length, bucket_size=bucket_size,
            masked_lm_layer_norm_epsilon=masked_lm_layer_norm_epsilon)

    def masked_lm_head_config(self):
        # DeBERTa's head: dense + exact GELU + LayerNorm, decoder tied to the token embedding.
        return {"intermediate_activation": keras.activations.gelu,
                "layer_norm_epsilon": self.masked_lm_layer_norm_epsilon,
                "kernel_initializer": bert_kernel_initializer()}
