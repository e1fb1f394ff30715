"""Hugging Face RoBERTa and XLM-RoBERTa to and from ``RobertaBackbone`` / ``XLMRobertaBackbone``.

Reads and writes ``RobertaForMaskedLM`` / ``XLMRobertaForMaskedLM`` tensors
(``roberta.*`` and ``lm_head.*``). Hugging Face adds its one-row
``token_type_embeddings`` to every token; Cloze has no segments, so the row is
folded into the position table on import and exported as zeros. Their BPE and
SentencePiece tokenizers have no Cloze counterpart yet: the task comes without
a preprocessor.
"""
import numpy as np

from cloze.models.backbones.roberta_backbone import ROBERTA_LAYER_NORM_EPSILON, RobertaBackbone
from cloze.models.backbones.xlm_roberta_backbone import XLMRobertaBackbone
from cloze.models.convert import weights
from cloze.models.convert.converter import (HFConverter, encoder_shape_from_config,
                                             encoder_shape_to_config)
from cloze.models.convert.hf_bert import BERT_ENCODER_SUFFIXES, HIDDEN_ACT

PREFIX = "roberta"
TOKEN_TYPE = f"{PREFIX}.embeddings.token_type_embeddings.weight"
POSITIONS = f"{PREFIX}.embeddings.position_embeddings.weight"


def lm_head(head) -> list:
    """RoBERTa's ``lm_head``, shared by RoBERTa-PreLayerNorm."""
    return weights.masked_lm_head(head, "lm_head.dense", "lm_head.layer_norm", "lm_head.bias")


def lm_head_tied_tensors(prefix: str) -> dict:
    """The decoder copies ``lm_head`` may hold of ``<prefix>``'s word embeddings and its bias."""
    return {"lm_head.decoder.weight": f"{prefix}.embeddings.word_embeddings.weight",
            "lm_head.decoder.bias": "lm_head.bias"}


class RobertaConverter(HFConverter):
    """``RobertaForMaskedLM`` checkpoints as ``RobertaBackbone`` tasks."""

    model_type = "roberta"
    backbone_class = RobertaBackbone
    architecture = "RobertaForMaskedLM"
    tied_tensors = lm_head_tied_tensors(PREFIX)

    def backbone_from_config(self, config):
        config.expect("hidden_act", [HIDDEN_ACT], default=HIDDEN_ACT,
                      why="Cloze's RoBERTa uses exact GELU")
        config.expect("position_embedding_type", ["absolute"], default="absolute")
        config.expect("type_vocab_size", [1], default=1,
                      why="RoBERTa checkpoints have a single segment")
        config.expect_close("layer_norm_eps", ROBERTA_LAYER_NORM_EPSILON)
        pad_token_id = config.get("pad_token_id", 1)
        return self.backbone_class(
            **encoder_shape_from_config(config),
            # Hugging Face's table counts the pad_token_id + 1 rows before the first token.
            max_sequence_length=config.require("max_position_embeddings") - pad_token_id - 1,
            pad_token_id=pad_token_id)

    def config_from_backbone(self, backbone):
        return self.hf_config(
            **encoder_shape_to_config(backbone), hidden_act=HIDDEN_ACT,
            max_position_embeddings=backbone.max_sequence_length + backbone.pad_token_id + 1,
            type_vocab_size=1, layer_norm_eps=ROBERTA_LAYER_NORM_EPSILON,
            position_embedding_type="absolute", pad_token_id=backbone.pad_token_id,
            bos_token_id=0, eos_token_id=2)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        return (weights.text_embeddings(backbone.get_layer("embeddings"), f"{PREFIX}.embeddings")
                + weights.stacked_encoders(backbone, f"{PREFIX}.encoder.layer",
                                           BERT_ENCODER_SUFFIXES)
                + lm_head(task.masked_lm_head))

    def fold_tensors(self, tensors):
        if TOKEN_TYPE not in tensors:
            return tensors
        folded = {name: array for name, array in tensors.items() if name != TOKEN_TYPE}
        folded[POSITIONS] = tensors[POSITIONS] + tensors[TOKEN_TYPE][0]
        return folded

    def unfold_tensors(self, tensors):
        hidden_dim = tensors[POSITIONS].shape[1]
        return {**tensors, TOKEN_TYPE: np.zeros((1, hidden_dim), tensors[POSITIONS].dtype)}


class XLMRobertaConverter(RobertaConverter):
    """``XLMRobertaForMaskedLM`` checkpoints (RoBERTa's tensors) as ``XLMRobertaBackbone`` tasks."""

    model_type = "xlm-roberta"
    backbone_class = XLMRobertaBackbone
    architecture = "XLMRobertaForMaskedLM"
