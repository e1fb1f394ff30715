"""Hugging Face ALBERT (``model_type: albert``) to and from ``AlbertBackbone``.

Reads and writes ``AlbertForMaskedLM`` tensors (``albert.*`` and
``predictions.*``; the pooler when present). Layer ``i`` of Hugging Face's
``albert_layer_groups.<group>.albert_layers.<inner>`` is Cloze's
``group_<group>_inner_layer_<inner>``. The SentencePiece tokenizer has no Cloze
counterpart yet.
"""
from cloze.models.backbones.albert_backbone import AlbertBackbone
from cloze.models.backbones.bert_backbone import BERT_LAYER_NORM_EPSILON
from cloze.models.backbones.roberta_pre_ln_backbone import HF_ACTIVATIONS
from cloze.models.convert import weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.converter import (HFConverter, encoder_shape_from_config,
                                             encoder_shape_to_config)
from cloze.models.convert.hf_bert import bert_embeddings, check_head_epsilon, optional_pooler

PREFIX = "albert"
POOLER = f"{PREFIX}.pooler"


# ``weights.transformer_encoder``'s sub-layers in an ALBERT layer.
ENCODER_SUFFIXES = {
    "query": "attention.query",
    "key": "attention.key",
    "value": "attention.value",
    "attention_output": "attention.dense",
    "attention_layer_norm": "attention.LayerNorm",
    "intermediate": "ffn",
    "output": "ffn_output",
    "output_layer_norm": "full_layer_layer_norm",
}


def hidden_act_name(activation) -> str:
    """The Hugging Face ``hidden_act`` of a Keras activation function."""
    for name, function in HF_ACTIVATIONS.items():
        if function is activation:
            return name
    raise ConversionError(f"AlbertBackbone.activation {activation!r} has no Hugging Face "
                          f"hidden_act; supported: {sorted(HF_ACTIVATIONS)}.")


class AlbertConverter(HFConverter):
    """``AlbertForMaskedLM`` checkpoints as ``AlbertBackbone`` tasks."""

    model_type = "albert"
    backbone_class = AlbertBackbone
    architecture = "AlbertForMaskedLM"
    tied_tensors = {"predictions.decoder.weight": f"{PREFIX}.embeddings.word_embeddings.weight",
                    "predictions.decoder.bias": "predictions.bias"}

    def backbone_from_config(self, config):
        hidden_act = config.expect("hidden_act", sorted(HF_ACTIVATIONS), default="gelu_new")
        config.expect("position_embedding_type", ["absolute"], default="absolute")
        config.expect_close("layer_norm_eps", BERT_LAYER_NORM_EPSILON)
        return AlbertBackbone(
            **encoder_shape_from_config(config),
            embedding_dim=config.require("embedding_size"),
            num_groups=config.get("num_hidden_groups", 1),
            num_inner_repetitions=config.get("inner_group_num", 1),
            max_sequence_length=config.require("max_position_embeddings"),
            num_segments=config.get("type_vocab_size", 2),
            activation=HF_ACTIVATIONS[hidden_act],
            masked_lm_layer_norm_epsilon=BERT_LAYER_NORM_EPSILON)

    def config_from_backbone(self, backbone):
        check_head_epsilon(backbone, BERT_LAYER_NORM_EPSILON)
        return self.hf_config(
            **encoder_shape_to_config(backbone), embedding_size=backbone.embedding_dim,
            num_hidden_groups=backbone.num_groups,
            inner_group_num=backbone.num_inner_repetitions,
            hidden_act=hidden_act_name(backbone.activation),
            max_position_embeddings=backbone.max_sequence_length,
            type_vocab_size=backbone.num_segments, layer_norm_eps=BERT_LAYER_NORM_EPSILON,
            position_embedding_type="absolute", pad_token_id=0, bos_token_id=2, eos_token_id=3)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        mappings = bert_embeddings(backbone, f"{PREFIX}.embeddings") + weights.dense(
            backbone.get_layer("embedding_projection"),
            f"{PREFIX}.encoder.embedding_hidden_mapping_in")
        for group in range(backbone.num_groups):
            for inner in range(backbone.num_inner_repetitions):
                mappings += weights.transformer_encoder(
                    backbone.get_layer(f"group_{group}_inner_layer_{inner}"),
                    f"{PREFIX}.encoder.albert_layer_groups.{group}.albert_layers.{inner}",
                    ENCODER_SUFFIXES)
        return (mappings + optional_pooler(backbone, POOLER, tensors)
                + weights.masked_lm_head(task.masked_lm_head, "predictions.dense",
                                         "predictions.LayerNorm", "predictions.bias"))
