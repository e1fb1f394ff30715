"""Hugging Face BERT (``model_type: bert``) to and from ``BertBackbone`` + ``MaskedLM``.

Reads and writes the tensors of ``BertForMaskedLM`` and ``BertForPreTraining``
(``bert.*`` and ``cls.predictions.*``; the pooler when present). The decoder is
tied to the word embeddings, as in Cloze's head.
"""
import json
import os

import keras

from cloze.data.wordpiece import write_vocabulary
from cloze.models.backbones.bert_backbone import BERT_LAYER_NORM_EPSILON, BertBackbone
from cloze.models.convert import weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.converter import (HFConverter, encoder_shape_from_config,
                                             encoder_shape_to_config)
from cloze.models.preprocessors.masked_lm_preprocessor import MaskedLMPreprocessor
from cloze.models.tokenizers.word_piece_tokenizer import WordPieceTokenizer

VOCABULARY_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# Hugging Face applies hidden_act in the encoder and in the masked-LM transform;
# Cloze's BERT head always uses exact GELU, so only exact GELU converts exactly.
HIDDEN_ACT = "gelu"
POOLER = "bert.pooler.dense"
# The masked-LM head of BERT (and FNet, and DeBERTa's legacy layout): transform
# dense, transform layer norm and output bias, as ``weights.masked_lm_head`` takes them.
CLS_PREDICTIONS_HEAD = ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                        "cls.predictions.bias")
# ``weights.transformer_encoder``'s sub-layers in BERT's (and RoBERTa's) encoder layers.
BERT_ENCODER_SUFFIXES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_layer_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_layer_norm": "output.LayerNorm",
}


def bert_embeddings(backbone, hf_prefix: str) -> list:
    """The embedding layers ``bert_backbone.bert_embeddings`` builds (BERT's and ALBERT's)."""
    return [
        weights.TensorMapping(backbone.token_embedding.embeddings,
                              f"{hf_prefix}.word_embeddings.weight"),
        weights.TensorMapping(backbone.get_layer("position_embedding").position_embeddings,
                              f"{hf_prefix}.position_embeddings.weight"),
        weights.TensorMapping(backbone.get_layer("segment_embedding").embeddings,
                              f"{hf_prefix}.token_type_embeddings.weight"),
        *weights.layer_norm(backbone.get_layer("embeddings_layer_norm"), f"{hf_prefix}.LayerNorm"),
    ]


def cls_predictions_tied_tensors(prefix: str) -> dict:
    """The decoder copies ``cls.predictions`` may hold of ``<prefix>``'s word embeddings
    and of its bias."""
    return {"cls.predictions.decoder.weight": f"{prefix}.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias"}


def optional_pooler(backbone, hf_name: str, tensors=None) -> list:
    """The backbone's ``pooled_dense``, unless importing ``tensors`` that lack it.

    ``...ForMaskedLM`` checkpoints have no pooler; the backbone's then keeps its
    initial values. Exports always carry it (Hugging Face ignores it there).
    """
    if tensors is not None and f"{hf_name}.weight" not in tensors:
        return []
    return weights.dense(backbone.get_layer("pooled_dense"), hf_name)


def check_exact_gelu(activation, backbone_name: str) -> None:
    """Refuses to export an encoder activation Hugging Face would also apply in the head."""
    name = keras.activations.serialize(activation)
    if name != HIDDEN_ACT:
        raise ConversionError(
            f"{backbone_name}.activation is {name!r}; Hugging Face uses one activation for "
            f"the encoder and the masked-LM head, and Cloze's head is exact GELU, so only "
            f"activation={HIDDEN_ACT!r} exports exactly.")


def check_head_epsilon(backbone, expected: float) -> None:
    """Refuses a head layer-norm epsilon that Hugging Face's single epsilon cannot express."""
    if backbone.masked_lm_layer_norm_epsilon != expected:
        raise ConversionError(
            f"{type(backbone).__name__}.masked_lm_layer_norm_epsilon is "
            f"{backbone.masked_lm_layer_norm_epsilon}; Hugging Face uses the encoder's "
            f"{expected} in the masked-LM head too.")


def wordpiece_preprocessor(checkpoint_dir: str, config, sequence_length=None):
    """A WordPiece ``MaskedLMPreprocessor`` from ``vocab.txt``, or None without one.

    Lower-casing follows ``tokenizer_config.json``'s ``do_lower_case`` (default
    True, as in Hugging Face's ``BertTokenizer``); ``sequence_length`` defaults
    to ``max_position_embeddings``.
    """
    vocabulary = os.path.join(checkpoint_dir, VOCABULARY_FILE)
    if not os.path.isfile(vocabulary):
        return None
    tokenizer_config = {}
    tokenizer_config_path = os.path.join(checkpoint_dir, TOKENIZER_CONFIG_FILE)
    if os.path.isfile(tokenizer_config_path):
        with open(tokenizer_config_path, encoding="utf-8") as f:
            tokenizer_config = json.load(f)
    # read_vocabulary's errors already name the file and line.
    tokenizer = WordPieceTokenizer(vocabulary,
                                   lowercase=tokenizer_config.get("do_lower_case", True))
    if tokenizer.vocabulary_size() != config.require("vocab_size"):
        raise ConversionError(f"{vocabulary} has {tokenizer.vocabulary_size()} tokens but "
                              f"{config.path} says vocab_size={config.require('vocab_size')}.")
    return MaskedLMPreprocessor(
        tokenizer, sequence_length=sequence_length or config.require("max_position_embeddings"))


def save_wordpiece(preprocessor, out_dir: str) -> None:
    """Writes ``vocab.txt`` and a ``tokenizer_config.json`` for ``BertTokenizer``."""
    tokenizer = preprocessor.tokenizer
    write_vocabulary(tokenizer.vocabulary, os.path.join(out_dir, VOCABULARY_FILE))
    with open(os.path.join(out_dir, TOKENIZER_CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": tokenizer.lowercase,
                   "model_max_length": preprocessor.sequence_length}, f, indent=2)


class BertConverter(HFConverter):
    """``BertForMaskedLM`` / ``BertForPreTraining`` checkpoints as ``BertBackbone`` tasks."""

    model_type = "bert"
    backbone_class = BertBackbone
    architecture = "BertForMaskedLM"
    tied_tensors = cls_predictions_tied_tensors("bert")

    def backbone_from_config(self, config):
        config.expect("hidden_act", [HIDDEN_ACT], default=HIDDEN_ACT,
                      why="Cloze's BERT masked-LM head uses exact GELU")
        config.expect("position_embedding_type", ["absolute"], default="absolute")
        config.expect_close("layer_norm_eps", BERT_LAYER_NORM_EPSILON)
        return BertBackbone(
            **encoder_shape_from_config(config),
            max_sequence_length=config.require("max_position_embeddings"),
            num_segments=config.get("type_vocab_size", 2),
            activation=HIDDEN_ACT,
            masked_lm_layer_norm_epsilon=BERT_LAYER_NORM_EPSILON)

    def config_from_backbone(self, backbone):
        check_exact_gelu(backbone.activation, "BertBackbone")
        check_head_epsilon(backbone, BERT_LAYER_NORM_EPSILON)
        return self.hf_config(
            **encoder_shape_to_config(backbone), hidden_act=HIDDEN_ACT,
            max_position_embeddings=backbone.max_sequence_length,
            type_vocab_size=backbone.num_segments, layer_norm_eps=BERT_LAYER_NORM_EPSILON,
            position_embedding_type="absolute", pad_token_id=0)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        return (bert_embeddings(backbone, "bert.embeddings")
                + weights.stacked_encoders(backbone, "bert.encoder.layer", BERT_ENCODER_SUFFIXES)
                + optional_pooler(backbone, POOLER, tensors)
                + weights.masked_lm_head(task.masked_lm_head, *CLS_PREDICTIONS_HEAD))

    def preprocessor_from_checkpoint(self, checkpoint_dir, config, sequence_length=None):
        return wordpiece_preprocessor(checkpoint_dir, config, sequence_length)

    def save_tokenizer(self, preprocessor, out_dir):
        save_wordpiece(preprocessor, out_dir)
