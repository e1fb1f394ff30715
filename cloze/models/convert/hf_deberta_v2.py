"""Hugging Face DeBERTa-v2/v3 (``model_type: deberta-v2``) to and from ``DebertaV3Backbone``.

Reads and writes ``DebertaV2ForMaskedLM`` tensors (``deberta.*`` plus the
masked-LM head) of DeBERTa-v3-shaped models: relative attention with log
buckets, ``pos_att_type`` ``p2c`` and ``c2p``, one layer-normalised relative
table shared through the query and key projections, no absolute positions and
no segments. Other DeBERTa-v2 variants (absolute positions, the convolution
layer, separate position projections) are refused by name.

transformers has two head layouts, picked by ``config.json``'s ``legacy``
(default true): ``cls.predictions.*`` (with a decoder tied to the word
embeddings) and ``lm_predictions.lm_head.*`` (``legacy: false``, the layout of
Microsoft's own checkpoints). Import reads whichever the weights hold; export
writes ``legacy: false``. The SentencePiece tokenizer is not converted: the task
comes without a preprocessor.
"""
from cloze.models.backbones.deberta_v3_backbone import (DEBERTA_LAYER_NORM_EPSILON,
                                                        DebertaV3Backbone)
from cloze.models.convert import weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.converter import (HFConverter, encoder_shape_from_config,
                                             encoder_shape_to_config)
from cloze.models.convert.hf_bert import (CLS_PREDICTIONS_HEAD, HIDDEN_ACT, check_head_epsilon,
                                          cls_predictions_tied_tensors)

PREFIX = "deberta"
POSITION_ATTENTION_TYPES = ["p2c", "c2p"]
# The non-legacy head layout: (dense, layer norm, output bias) module paths.
LM_PREDICTIONS_HEAD = ("lm_predictions.lm_head.dense", "lm_predictions.lm_head.LayerNorm",
                       "lm_predictions.lm_head.bias")
# Sub-layers of a ``DisentangledAttentionEncoder`` under ``deberta.encoder.layer.<i>``.
ATTENTION_DENSES = {"_query_dense": "attention.self.query_proj",
                    "_key_dense": "attention.self.key_proj",
                    "_value_dense": "attention.self.value_proj",
                    "_output_dense": "attention.output.dense"}
BLOCK_DENSES = {"_feedforward_intermediate_dense": "intermediate.dense",
                "_feedforward_output_dense": "output.dense"}
BLOCK_NORMS = {"_self_attention_layer_norm": "attention.output.LayerNorm",
               "_feedforward_layer_norm": "output.LayerNorm"}


def encoder_layer(block, hf_layer: str) -> list:
    """A ``DisentangledAttentionEncoder``'s variables under Hugging Face layer ``hf_layer``."""
    attention = block._self_attention_layer
    return ([mapping for attribute, suffix in ATTENTION_DENSES.items()
             for mapping in weights.dense(getattr(attention, attribute), f"{hf_layer}.{suffix}")]
            + [mapping for attribute, suffix in BLOCK_DENSES.items()
               for mapping in weights.dense(getattr(block, attribute), f"{hf_layer}.{suffix}")]
            + [mapping for attribute, suffix in BLOCK_NORMS.items()
               for mapping in weights.layer_norm(getattr(block, attribute),
                                                 f"{hf_layer}.{suffix}")])


def check_disentangled_attention(config) -> None:
    """Refuses DeBERTa-v2 configurations other than DeBERTa-v3's attention."""
    config.expect("relative_attention", [True], default=False,
                  why="Cloze's DeBERTa reads positions only through relative attention")
    config.expect("position_biased_input", [False], default=True,
                  why="Cloze's DeBERTa has no absolute position embeddings")
    config.expect("type_vocab_size", [0], default=0, why="Cloze's DeBERTa has no segments")
    config.expect("share_att_key", [True], default=False,
                  why="Cloze's DeBERTa projects positions with the content query and key")
    config.expect("norm_rel_ebd", ["layer_norm"], default="none",
                  why="Cloze's DeBERTa layer-normalises the relative table")
    config.expect("conv_kernel_size", [0], default=0,
                  why="Cloze's DeBERTa has no convolution layer")
    pos_att_type = config.get("pos_att_type") or []
    if isinstance(pos_att_type, str):
        pos_att_type = [part.strip() for part in pos_att_type.lower().split("|")]
    if sorted(pos_att_type) != sorted(POSITION_ATTENTION_TYPES):
        raise ConversionError(f"{config.path}: pos_att_type={config.get('pos_att_type')!r} is "
                              f"not supported; expected {POSITION_ATTENTION_TYPES}.")
    if config.get("position_buckets", -1) < 2:
        raise ConversionError(f"{config.path}: position_buckets="
                              f"{config.get('position_buckets')!r} is not supported; Cloze's "
                              f"DeBERTa log-buckets relative positions: expected an int >= 2.")
    max_relative = config.get("max_relative_positions", -1)
    if max_relative >= 1 and max_relative != config.require("max_position_embeddings"):
        raise ConversionError(f"{config.path}: max_relative_positions={max_relative} is not "
                              f"supported; expected -1 (max_position_embeddings="
                              f"{config.require('max_position_embeddings')}).")
    hidden_size = config.require("hidden_size")
    if config.get("embedding_size", hidden_size) != hidden_size:
        raise ConversionError(f"{config.path}: embedding_size={config.get('embedding_size')} is "
                              f"not supported; expected hidden_size={hidden_size}.")
    head_size = hidden_size // config.require("num_attention_heads")
    if config.get("attention_head_size", head_size) != head_size:
        raise ConversionError(f"{config.path}: attention_head_size="
                              f"{config.get('attention_head_size')} is not supported; expected "
                              f"hidden_size / num_attention_heads = {head_size}.")


class DebertaV2Converter(HFConverter):
    """``DebertaV2ForMaskedLM`` checkpoints of DeBERTa-v3 shape as ``DebertaV3Backbone`` tasks."""

    model_type = "deberta-v2"
    backbone_class = DebertaV3Backbone
    architecture = "DebertaV2ForMaskedLM"
    tied_tensors = cls_predictions_tied_tensors(PREFIX)

    def backbone_from_config(self, config):
        config.expect("hidden_act", [HIDDEN_ACT], default=HIDDEN_ACT,
                      why="Cloze's DeBERTa uses exact GELU")
        config.expect_close("layer_norm_eps", DEBERTA_LAYER_NORM_EPSILON)
        check_disentangled_attention(config)
        return DebertaV3Backbone(
            **encoder_shape_from_config(config),
            max_sequence_length=config.require("max_position_embeddings"),
            bucket_size=config.require("position_buckets"),
            masked_lm_layer_norm_epsilon=DEBERTA_LAYER_NORM_EPSILON)

    def config_from_backbone(self, backbone):
        check_head_epsilon(backbone, DEBERTA_LAYER_NORM_EPSILON)
        return self.hf_config(
            **encoder_shape_to_config(backbone), hidden_act=HIDDEN_ACT,
            max_position_embeddings=backbone.max_sequence_length, type_vocab_size=0,
            layer_norm_eps=DEBERTA_LAYER_NORM_EPSILON, relative_attention=True,
            position_buckets=backbone.bucket_size, max_relative_positions=-1,
            pos_att_type=POSITION_ATTENTION_TYPES, norm_rel_ebd="layer_norm",
            share_att_key=True, position_biased_input=False, pad_token_id=0, legacy=False)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        relative = backbone.get_layer("rel_embedding")
        head = (CLS_PREDICTIONS_HEAD if tensors is not None and CLS_PREDICTIONS_HEAD[2] in tensors
                else LM_PREDICTIONS_HEAD)
        return ([weights.TensorMapping(backbone.token_embedding.embeddings,
                                       f"{PREFIX}.embeddings.word_embeddings.weight")]
                + weights.layer_norm(backbone.get_layer("embeddings_layer_norm"),
                                     f"{PREFIX}.embeddings.LayerNorm")
                + [weights.TensorMapping(relative.rel_embedding,
                                         f"{PREFIX}.encoder.rel_embeddings.weight")]
                + weights.layer_norm(relative.layer_norm, f"{PREFIX}.encoder.LayerNorm")
                + [mapping for i in range(backbone.num_layers)
                   for mapping in encoder_layer(
                       backbone.get_layer(f"disentangled_attention_encoder_layer_{i}"),
                       f"{PREFIX}.encoder.layer.{i}")]
                + weights.masked_lm_head(task.masked_lm_head, *head))
