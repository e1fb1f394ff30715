"""Hugging Face DistilBERT (``model_type: distilbert``) to and from ``DistilBertBackbone``.

Reads and writes ``DistilBertForMaskedLM`` tensors (``distilbert.*`` and the
``vocab_transform`` / ``vocab_layer_norm`` / ``vocab_projector`` head, whose
projector is tied to the word embeddings). Hugging Face hard-codes DistilBERT's
layer-norm epsilon to 1e-12, in the head too.
"""
from cloze.models.backbones.bert_backbone import BERT_LAYER_NORM_EPSILON
from cloze.models.backbones.distil_bert_backbone import DistilBertBackbone
from cloze.models.convert import weights
from cloze.models.convert.converter import HFConverter
from cloze.models.convert.hf_bert import (HIDDEN_ACT, check_head_epsilon, save_wordpiece,
                                          wordpiece_preprocessor)

PREFIX = "distilbert"


# ``weights.transformer_encoder``'s sub-layers in DistilBERT's transformer layers.
ENCODER_SUFFIXES = {
    "query": "attention.q_lin",
    "key": "attention.k_lin",
    "value": "attention.v_lin",
    "attention_output": "attention.out_lin",
    "attention_layer_norm": "sa_layer_norm",
    "intermediate": "ffn.lin1",
    "output": "ffn.lin2",
    "output_layer_norm": "output_layer_norm",
}


class DistilBertConverter(HFConverter):
    """``DistilBertForMaskedLM`` checkpoints as ``DistilBertBackbone`` tasks."""

    model_type = "distilbert"
    backbone_class = DistilBertBackbone
    architecture = "DistilBertForMaskedLM"
    tied_tensors = {"vocab_projector.weight": f"{PREFIX}.embeddings.word_embeddings.weight"}

    def backbone_from_config(self, config):
        config.expect("activation", [HIDDEN_ACT], default=HIDDEN_ACT,
                      why="Cloze's DistilBERT uses exact GELU")
        return DistilBertBackbone(
            vocabulary_size=config.require("vocab_size"),
            num_layers=config.require("n_layers"),
            num_heads=config.require("n_heads"),
            hidden_dim=config.require("dim"),
            intermediate_dim=config.require("hidden_dim"),
            dropout=config.get("dropout", 0.1),
            max_sequence_length=config.require("max_position_embeddings"),
            masked_lm_layer_norm_epsilon=BERT_LAYER_NORM_EPSILON)

    def config_from_backbone(self, backbone):
        check_head_epsilon(backbone, BERT_LAYER_NORM_EPSILON)
        return self.hf_config(
            vocab_size=backbone.vocabulary_size, dim=backbone.hidden_dim,
            n_layers=backbone.num_layers, n_heads=backbone.num_heads,
            hidden_dim=backbone.intermediate_dim, activation=HIDDEN_ACT,
            dropout=backbone.dropout, attention_dropout=backbone.dropout,
            max_position_embeddings=backbone.max_sequence_length, sinusoidal_pos_embds=False,
            pad_token_id=0)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        return (weights.text_embeddings(backbone.get_layer("embeddings"), f"{PREFIX}.embeddings")
                + weights.stacked_encoders(backbone, f"{PREFIX}.transformer.layer",
                                           ENCODER_SUFFIXES)
                + weights.masked_lm_head(task.masked_lm_head, "vocab_transform",
                                         "vocab_layer_norm", "vocab_projector.bias"))

    def preprocessor_from_checkpoint(self, checkpoint_dir, config, sequence_length=None):
        return wordpiece_preprocessor(checkpoint_dir, config, sequence_length)

    def save_tokenizer(self, preprocessor, out_dir):
        save_wordpiece(preprocessor, out_dir)
