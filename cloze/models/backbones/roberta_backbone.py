"""RoBERTa: BERT's post-LayerNorm encoder without segments, numbered the fairseq way."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import bert_kernel_initializer
from cloze.models.layers.text_embeddings import TextEmbeddings
from cloze.models.layers.transformer_encoder import TransformerEncoder

# fairseq's (and Hugging Face's RoBERTa checkpoints') layer-norm epsilon.
ROBERTA_LAYER_NORM_EPSILON = 1e-5


def encoder_graph(embeddings, num_layers, final_layer_norm=None, **block_kwargs):
    """The functional graph of embeddings -> ``num_layers`` encoder blocks (-> final norm).

    Blocks are ``TransformerEncoder(**block_kwargs)`` named ``transformer_layer_{i}``.
    Returns ``(inputs, outputs)`` for ``Backbone.__init__``: inputs are
    ``token_ids``, ``segment_ids`` (only when ``embeddings`` has segments) and
    ``padding_mask``; outputs hold ``sequence_output``.
    """
    inputs = {"token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids")}
    if embeddings.num_segments:
        inputs["segment_ids"] = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
    inputs["padding_mask"] = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    x = embeddings(inputs["token_ids"], inputs.get("segment_ids"))
    for i in range(num_layers):
        x = TransformerEncoder(name=f"transformer_layer_{i}", **block_kwargs)(
            x, padding_mask=inputs["padding_mask"])
    if final_layer_norm is not None:
        x = final_layer_norm(x)
    return inputs, {"sequence_output": x}


@keras.saving.register_keras_serializable(package="cloze")
class RobertaBackbone(Backbone):
    """The RoBERTa encoder (Liu et al., 2019), with keras-hub's constructor.

    Inputs are a dict of ``token_ids`` and ``padding_mask`` (each ``(batch, length)``
    int32); the output ``sequence_output`` is ``(batch, length, hidden_dim)``.
    There are no segments and no pooler (RoBERTa dropped next-sentence prediction).

    Positions follow Hugging Face's ``RobertaModel`` rather than keras-hub's:
    the position of a token counts the non-pad tokens up to it, starting at
    ``pad_token_id + 1``, and pad tokens sit at ``pad_token_id``. Positions are
    read from ``token_ids`` (not ``padding_mask``), exactly as Hugging Face does,
    so pad with ``pad_token_id``. The position table therefore has
    ``max_sequence_length + pad_token_id + 1`` rows (514 for 512 tokens), the
    shape of Hugging Face's ``position_embeddings``, and a checkpoint converts
    row for row. Hugging Face's one-row ``token_type_embeddings`` is added to
    every token; a converter folds it into the position table.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input.
        pad_token_id: the pad token, which positions are counted around.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.

    Example:
    >>> import numpy as np
    >>> backbone = RobertaBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                            hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    >>> outputs = backbone({"token_ids": np.array([[0, 5, 6, 2, 1, 1]], "int32"),
    ...                     "padding_mask": np.array([[1, 1, 1, 1, 0, 0]], "int32")})
    >>> tuple(outputs["sequence_output"].shape)
    (1, 6, 16)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=512, pad_token_id=1, dtype=None, **kwargs):
        embeddings = TextEmbeddings(
            vocabulary_size, hidden_dim, max_sequence_length, position_ids="padding_offset",
            pad_token_id=pad_token_id, layer_norm_epsilon=ROBERTA_LAYER_NORM_EPSILON,
            dropout=dropout, dtype=dtype, name="embeddings")
        inputs, outputs = encoder_graph(
            embeddings, num_layers, intermediate_dim=intermediate_dim, num_heads=num_heads,
            dropout=dropout, activation=keras.activations.gelu,
            layer_norm_epsilon=ROBERTA_LAYER_NORM_EPSILON,
            kernel_initializer=bert_kernel_initializer(), dtype=dtype)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        self._record_config(
            embeddings.token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
            dropout=dropout, max_sequence_length=max_sequence_length, pad_token_id=pad_token_id)

    def masked_lm_head_config(self):
        # RoBERTa's LM head: dense + exact GELU + LayerNorm(1e-5), tied decoder plus bias.
        return {"intermediate_activation": keras.activations.gelu,
                "layer_norm_epsilon": ROBERTA_LAYER_NORM_EPSILON,
                "kernel_initializer": bert_kernel_initializer()}
