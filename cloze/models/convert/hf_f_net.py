"""Hugging Face FNet (``model_type: fnet``) to and from ``FNetBackbone``.

Reads and writes ``FNetForMaskedLM`` tensors (``fnet.*``, the pooler included,
and ``cls.predictions.*``, whose decoder is tied to the word embeddings). The
embeddings' ``projection`` is Cloze's ``embedding_projection``; each layer's
``fourier.output.LayerNorm`` follows the Fourier mixing. Hugging Face applies
``hidden_act`` (``gelu_new``, the tanh approximation) and ``layer_norm_eps``
(1e-12) in the encoder and in the masked-LM transform alike, which is what
``FNetBackbone`` computes with ``masked_lm_activation=gelu_approximate`` and
``masked_lm_layer_norm_epsilon=1e-12``. ``use_tpu_fourier_optimizations`` only
changes how the same transform is computed, so it is ignored. The
SentencePiece tokenizer has no Cloze counterpart here: the task comes without a
preprocessor.
"""
from cloze.models.backbones.bert_backbone import BERT_LAYER_NORM_EPSILON
from cloze.models.backbones.f_net_backbone import FNetBackbone
from cloze.models.convert import weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.converter import HFConverter
from cloze.models.convert.hf_bert import (CLS_PREDICTIONS_HEAD, check_head_epsilon,
                                          cls_predictions_tied_tensors, optional_pooler)
from cloze.models.layers.activations import gelu_approximate

PREFIX = "fnet"
POOLER = f"{PREFIX}.pooler.dense"
# FNet's encoder activation, fixed in ``FNetBackbone``.
HIDDEN_ACT = "gelu_new"


def f_net_layer(block, hf_layer: str) -> list:
    """An ``FNetEncoder``'s variables under Hugging Face's ``fnet.encoder.layer.<i>``."""
    return (weights.layer_norm(block._mixing_layer_norm, f"{hf_layer}.fourier.output.LayerNorm")
            + weights.dense(block._intermediate_dense, f"{hf_layer}.intermediate.dense")
            + weights.dense(block._output_dense, f"{hf_layer}.output.dense")
            + weights.layer_norm(block._output_layer_norm, f"{hf_layer}.output.LayerNorm"))


class FNetConverter(HFConverter):
    """``FNetForMaskedLM`` checkpoints as ``FNetBackbone`` tasks."""

    model_type = "fnet"
    backbone_class = FNetBackbone
    architecture = "FNetForMaskedLM"
    tied_tensors = cls_predictions_tied_tensors(PREFIX)

    def backbone_from_config(self, config):
        config.expect("hidden_act", [HIDDEN_ACT], default=HIDDEN_ACT,
                      why="Cloze's FNet uses the tanh-approximate GELU")
        config.expect_close("layer_norm_eps", BERT_LAYER_NORM_EPSILON)
        return FNetBackbone(
            vocabulary_size=config.require("vocab_size"),
            num_layers=config.require("num_hidden_layers"),
            hidden_dim=config.require("hidden_size"),
            intermediate_dim=config.require("intermediate_size"),
            dropout=config.get("hidden_dropout_prob", 0.1),
            max_sequence_length=config.require("max_position_embeddings"),
            num_segments=config.get("type_vocab_size", 4),
            masked_lm_activation=gelu_approximate,
            masked_lm_layer_norm_epsilon=BERT_LAYER_NORM_EPSILON)

    def config_from_backbone(self, backbone):
        if backbone.masked_lm_activation is not gelu_approximate:
            raise ConversionError(
                f"FNetBackbone.masked_lm_activation is {backbone.masked_lm_activation!r}; "
                f"Hugging Face applies the encoder's {HIDDEN_ACT} in the masked-LM head too, "
                f"so only masked_lm_activation=gelu_approximate exports exactly.")
        check_head_epsilon(backbone, BERT_LAYER_NORM_EPSILON)
        return self.hf_config(
            vocab_size=backbone.vocabulary_size, hidden_size=backbone.hidden_dim,
            num_hidden_layers=backbone.num_layers, intermediate_size=backbone.intermediate_dim,
            hidden_act=HIDDEN_ACT, hidden_dropout_prob=backbone.dropout,
            max_position_embeddings=backbone.max_sequence_length,
            type_vocab_size=backbone.num_segments, layer_norm_eps=BERT_LAYER_NORM_EPSILON,
            use_tpu_fourier_optimizations=False, pad_token_id=3, bos_token_id=1, eos_token_id=2)

    def weight_mappings(self, task, tensors=None):
        backbone = task.backbone
        mappings = (weights.text_embeddings(backbone.get_layer("embeddings"),
                                            f"{PREFIX}.embeddings")
                    + weights.dense(backbone.get_layer("embedding_projection"),
                                    f"{PREFIX}.embeddings.projection"))
        for i in range(backbone.num_layers):
            mappings += f_net_layer(backbone.get_layer(f"f_net_layer_{i}"),
                                    f"{PREFIX}.encoder.layer.{i}")
        return (mappings + optional_pooler(backbone, POOLER, tensors)
                + weights.masked_lm_head(task.head, *CLS_PREDICTIONS_HEAD))
