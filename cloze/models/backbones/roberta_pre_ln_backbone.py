"""RoBERTa-PreLayerNorm: RoBERTa with pre-LayerNorm blocks and a final LayerNorm."""
import keras

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import bert_kernel_initializer
from cloze.models.backbones.roberta_backbone import ROBERTA_LAYER_NORM_EPSILON, encoder_graph
from cloze.models.layers.activations import gelu_approximate
from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.relative_position_attention import RELATIVE_POSITION_TYPES
from cloze.models.layers.text_embeddings import TextEmbeddings

POSITION_EMBEDDING_TYPES = ("absolute",) + RELATIVE_POSITION_TYPES

# RobertaPreLayerNormConfig's defaults, for keys a Hugging Face config.json leaves out.
HF_CONFIG_DEFAULTS = {
    "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
    "layer_norm_eps": 1e-12, "pad_token_id": 1, "position_embedding_type": "absolute",
    "is_decoder": False,
}
HF_MODEL_TYPE = "roberta-prelayernorm"
# Hugging Face ``hidden_act`` names -> Keras activations; "gelu" is the exact (erf) GELU.
HF_ACTIVATIONS = {
    "gelu": keras.activations.gelu,
    "gelu_new": gelu_approximate,
    "gelu_pytorch_tanh": gelu_approximate,
    "relu": keras.activations.relu,
    "silu": keras.activations.silu,
    "swish": keras.activations.silu,
}


@keras.saving.register_keras_serializable(package="cloze")
class RobertaPreLNBackbone(Backbone):
    """RoBERTa with pre-LayerNorm blocks (fairseq's ``--encoder-normalize-before``).

    Each block normalises before attention and before the feed-forward network,
    and one more LayerNorm follows the last block, as in Hugging Face's
    ``RobertaPreLayerNormModel``. Embeddings are RoBERTa's (see
    ``RobertaBackbone`` for the position numbering) plus segment embeddings.
    With a relative ``position_embedding_type`` there are no absolute position
    embeddings and every block uses ``RelativePositionAttention`` over a
    distance table sized by ``max_sequence_length + pad_token_id + 1``
    (Hugging Face's ``max_position_embeddings``). ``is_decoder=True`` makes
    self-attention causal. There is no pooler.

    Inputs are a dict of ``token_ids``, ``segment_ids`` and ``padding_mask``
    (each ``(batch, length)`` int32); the output ``sequence_output`` is
    ``(batch, length, hidden_dim)``.

    Args:
        vocabulary_size: number of token ids.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate throughout.
        max_sequence_length: the longest input.
        num_segments: number of segment ids.
        layer_norm_epsilon: epsilon of every layer norm, the head's included.
        position_embedding_type: ``"absolute"``, ``"relative_key"`` or
            ``"relative_key_query"``.
        pad_token_id: the pad token, which positions are counted around.
        is_decoder: causal self-attention when True.
        hidden_activation: feed-forward activation, by its Hugging Face name.
        initializer_range: standard deviation of the truncated-normal initializers.
        dtype: dtype or ``keras.DTypePolicy`` of every layer.

    Example:
    >>> import numpy as np
    >>> backbone = RobertaPreLNBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                                 hidden_dim=16, intermediate_dim=32,
    ...                                 max_sequence_length=32,
    ...                                 position_embedding_type="relative_key_query")
    >>> outputs = backbone({"token_ids": np.array([[0, 5, 6, 2, 1]], "int32"),
    ...                     "segment_ids": np.zeros((1, 5), "int32"),
    ...                     "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")})
    >>> tuple(outputs["sequence_output"].shape)
    (1, 5, 16)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=512, num_segments=1,
                 layer_norm_epsilon=ROBERTA_LAYER_NORM_EPSILON, position_embedding_type="absolute",
                 pad_token_id=1, is_decoder=False, hidden_activation="gelu",
                 initializer_range=0.02, dtype=None, **kwargs):
        if position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(f"position_embedding_type={position_embedding_type!r}; expected "
                             f"one of {POSITION_EMBEDDING_TYPES}.")
        if hidden_activation not in HF_ACTIVATIONS:
            raise ValueError(f"hidden_activation={hidden_activation!r}; expected one of "
                             f"{sorted(HF_ACTIVATIONS)}.")
        absolute = position_embedding_type == "absolute"
        embeddings = TextEmbeddings(
            vocabulary_size, hidden_dim, max_sequence_length, num_segments=num_segments,
            position_ids="padding_offset" if absolute else None, pad_token_id=pad_token_id,
            layer_norm_epsilon=layer_norm_epsilon, dropout=dropout,
            initializer_range=initializer_range, dtype=dtype, name="embeddings")
        final_layer_norm = LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_layer_norm")
        inputs, outputs = encoder_graph(
            embeddings, num_layers, final_layer_norm, intermediate_dim=intermediate_dim,
            num_heads=num_heads, dropout=dropout, activation=HF_ACTIVATIONS[hidden_activation],
            layer_norm_epsilon=layer_norm_epsilon,
            kernel_initializer=bert_kernel_initializer(initializer_range), normalize_first=True,
            causal=is_decoder, relative_attention=None if absolute else position_embedding_type,
            max_position_embeddings=None if absolute else max_sequence_length + pad_token_id + 1,
            dtype=dtype)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        self._record_config(
            embeddings.token_embedding, vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
            dropout=dropout, max_sequence_length=max_sequence_length, num_segments=num_segments,
            layer_norm_epsilon=layer_norm_epsilon, position_embedding_type=position_embedding_type,
            pad_token_id=pad_token_id, is_decoder=is_decoder, hidden_activation=hidden_activation,
            initializer_range=initializer_range)

    @classmethod
    def from_hf_config(cls, hf_config, **kwargs):
        """The backbone a Hugging Face ``RobertaPreLayerNormConfig`` dict describes.

        Keys it leaves out take that class's defaults; ``kwargs`` (``dtype``,
        ``name``) go to the constructor. Raises ``ValueError`` naming the field
        for what this backbone cannot express.

        Example:
        >>> backbone = RobertaPreLNBackbone.from_hf_config({
        ...     "vocab_size": 60, "hidden_size": 8, "num_hidden_layers": 1,
        ...     "num_attention_heads": 2, "intermediate_size": 16,
        ...     "max_position_embeddings": 34, "layer_norm_eps": 1e-5,
        ...     "type_vocab_size": 1})
        >>> backbone.max_sequence_length, backbone.num_segments
        (32, 1)
        """
        config = {**HF_CONFIG_DEFAULTS, **hf_config}
        model_type = config.get("model_type", HF_MODEL_TYPE)
        if model_type != HF_MODEL_TYPE:
            raise ValueError(f"model_type={model_type!r}; expected {HF_MODEL_TYPE!r}.")
        if config["hidden_dropout_prob"] != config["attention_probs_dropout_prob"]:
            raise ValueError(
                f"hidden_dropout_prob={config['hidden_dropout_prob']} differs from "
                f"attention_probs_dropout_prob={config['attention_probs_dropout_prob']}; "
                f"this backbone has one dropout rate, so set them equal.")
        for field, supported in (("add_cross_attention", False), ("tie_word_embeddings", True)):
            if config.get(field, supported) != supported:
                raise ValueError(f"{field}={config[field]!r} is not supported; "
                                 f"expected {supported!r}.")
        pad_token_id = config["pad_token_id"]
        if pad_token_id is None or config["max_position_embeddings"] <= pad_token_id + 1:
            raise ValueError(
                f"max_position_embeddings={config['max_position_embeddings']} with "
                f"pad_token_id={pad_token_id!r} leaves no room for positions; positions start "
                f"at pad_token_id + 1.")
        return cls(
            vocabulary_size=config["vocab_size"],
            num_layers=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            hidden_dim=config["hidden_size"],
            intermediate_dim=config["intermediate_size"],
            dropout=config["hidden_dropout_prob"],
            max_sequence_length=config["max_position_embeddings"] - pad_token_id - 1,
            num_segments=config["type_vocab_size"],
            layer_norm_epsilon=config["layer_norm_eps"],
            position_embedding_type=config["position_embedding_type"],
            pad_token_id=pad_token_id,
            is_decoder=config["is_decoder"],
            hidden_activation=config["hidden_act"],
            initializer_range=config["initializer_range"],
            **kwargs)

    def masked_lm_head_config(self):
        # Hugging Face's LM head: dense + exact GELU (whatever hidden_act is) +
        # LayerNorm(layer_norm_eps), tied decoder plus bias.
        return {"intermediate_activation": keras.activations.gelu,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": bert_kernel_initializer(self.initializer_range)}
