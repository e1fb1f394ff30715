"""Hugging Face RoBERTa-PreLayerNorm to and from ``RobertaPreLNBackbone``.

Reads and writes ``RobertaPreLayerNormForMaskedLM`` tensors
(``roberta_prelayernorm.*`` and RoBERTa's ``lm_head.*``). Each block's
``attention.LayerNorm`` and ``intermediate.LayerNorm`` come before attention and
the feed-forward network, and ``roberta_prelayernorm.LayerNorm`` follows the
last block. ``RobertaPreLayerNormForCausalLM`` (``is_decoder: true``) has the same
tensors: its ``lm_head`` is the task's head, whether a ``MaskedLM`` or a ``CausalLM``.

With ``position_embedding_type`` ``relative_key`` or ``relative_key_query``
(transformers 4.x; 5.x dropped them from this model) each block's
``attention.self.distance_embedding`` is its ``RelativePositionAttention``'s
distance table. Hugging Face still holds ``embeddings.position_embeddings`` then,
but never adds it: Cloze's backbone has no such table, so import skips it and
export writes zeros.
"""
import numpy as np

from cloze.models.backbones.roberta_pre_ln_backbone import RobertaPreLNBackbone
from cloze.models.convert import weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.converter import HFConverter, encoder_shape_to_config
from cloze.models.convert.hf_bert import BERT_ENCODER_SUFFIXES
from cloze.models.convert.hf_roberta import lm_head, lm_head_tied_tensors

PREFIX = "roberta_prelayernorm"
# RoBERTa's layer names, but the two norms sit before attention and the feed-forward network.
ENCODER_SUFFIXES = {**BERT_ENCODER_SUFFIXES, "attention_layer_norm": "attention.LayerNorm",
                    "output_layer_norm": "intermediate.LayerNorm"}
POSITIONS = f"{PREFIX}.embeddings.position_embeddings.weight"
WORDS = f"{PREFIX}.embeddings.word_embeddings.weight"
DISTANCES = PREFIX + ".encoder.layer.{}.attention.self.distance_embedding.weight"


def distance_embeddings(backbone) -> list:
    """Each block's relative-distance table, or nothing with absolute positions."""
    if backbone.position_embedding_type == "absolute":
        return []
    return [weights.TensorMapping(
        backbone.get_layer(f"transformer_layer_{i}")._self_attention_layer
        ._distance_embedding.embeddings, DISTANCES.format(i)) for i in range(backbone.num_layers)]


class RobertaPreLNConverter(HFConverter):
    """``RobertaPreLayerNormForMaskedLM`` checkpoints as ``RobertaPreLNBackbone`` tasks."""

    model_type = "roberta-prelayernorm"
    backbone_class = RobertaPreLNBackbone
    architecture = "RobertaPreLayerNormForMaskedLM"
    tied_tensors = lm_head_tied_tensors(PREFIX)

    def backbone_from_config(self, config):
        try:
            return RobertaPreLNBackbone.from_hf_config(config.values)
        except ValueError as error:
            raise ConversionError(f"{config.path}: {error}") from error

    def config_from_backbone(self, backbone):
        return self.hf_config(
            **encoder_shape_to_config(backbone), hidden_act=backbone.hidden_activation,
            max_position_embeddings=backbone.max_sequence_length + backbone.pad_token_id + 1,
            type_vocab_size=backbone.num_segments, initializer_range=backbone.initializer_range,
            layer_norm_eps=backbone.layer_norm_epsilon,
            position_embedding_type=backbone.position_embedding_type,
            pad_token_id=backbone.pad_token_id, is_decoder=backbone.is_decoder)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        return (weights.text_embeddings(backbone.get_layer("embeddings"), f"{PREFIX}.embeddings")
                + weights.stacked_encoders(backbone, f"{PREFIX}.encoder.layer", ENCODER_SUFFIXES)
                + distance_embeddings(backbone)
                + weights.layer_norm(backbone.get_layer("final_layer_norm"), f"{PREFIX}.LayerNorm")
                + lm_head(task.head))

    def unfold_tensors(self, tensors):
        if POSITIONS in tensors:
            return tensors
        # Relative positions: the absolute table Hugging Face keeps unused, one row per
        # position, as the distance table has one per distance (2 * positions - 1).
        positions = (tensors[DISTANCES.format(0)].shape[0] + 1) // 2
        words = tensors[WORDS]
        return {**tensors, POSITIONS: np.zeros((positions, words.shape[1]), words.dtype)}
