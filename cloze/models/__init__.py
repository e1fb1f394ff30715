"""Models: layers -> backbones -> heads -> tasks, plus tokenizers, preprocessors and presets.

Importing this package registers every backbone, so ``Backbone.from_preset`` and
the built-in preset names can find them. Layers, backbones and heads use
``keras.ops`` only and import eagerly, so they run on any Keras backend (the GPU
benchmark runs them on JAX); the tokenizers, preprocessors and tasks use
TensorFlow ops and import on first use.
"""
import importlib

from cloze.models.backbones.albert_backbone import AlbertBackbone
from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import BertBackbone
from cloze.models.backbones.deberta_v3_backbone import DebertaV3Backbone
from cloze.models.backbones.distil_bert_backbone import DistilBertBackbone
from cloze.models.backbones.f_net_backbone import FNetBackbone
from cloze.models.backbones.roberta_backbone import RobertaBackbone
from cloze.models.backbones.roberta_pre_ln_backbone import RobertaPreLNBackbone
from cloze.models.backbones.xlm_roberta_backbone import XLMRobertaBackbone
from cloze.models.heads.masked_lm_head import MaskedLMHead
from cloze.models.layers.disentangled_attention import (DisentangledAttentionEncoder,
                                                        DisentangledSelfAttention)
from cloze.models.layers.f_net_encoder import FNetEncoder
from cloze.models.layers.position_embedding import PositionEmbedding
from cloze.models.layers.relative_position_attention import RelativePositionAttention
from cloze.models.layers.reversible_embedding import ReversibleEmbedding
from cloze.models.layers.text_embeddings import TextEmbeddings
from cloze.models.layers.transformer_encoder import TransformerEncoder

_TENSORFLOW_CLASSES = {
    "CausalLM": "cloze.models.tasks.causal_lm",
    "MaskedLM": "cloze.models.tasks.masked_lm",
    "MaskedLMMaskGenerator": "cloze.models.layers.masked_lm_mask_generator",
    "MaskedLMPreprocessor": "cloze.models.preprocessors.masked_lm_preprocessor",
    "BytePairTokenizer": "cloze.models.tokenizers.byte_pair_tokenizer",
    "SentencePieceTokenizer": "cloze.models.tokenizers.sentence_piece_tokenizer",
    "WordPieceTokenizer": "cloze.models.tokenizers.word_piece_tokenizer",
}


def __getattr__(name):
    if name in _TENSORFLOW_CLASSES:
        return getattr(importlib.import_module(_TENSORFLOW_CLASSES[name]), name)
    raise AttributeError(f"module 'cloze.models' has no attribute {name!r}")


__all__ = [
    "AlbertBackbone", "Backbone", "BertBackbone", "BytePairTokenizer", "CausalLM",
    "DebertaV3Backbone",
    "DisentangledAttentionEncoder", "DisentangledSelfAttention", "DistilBertBackbone",
    "FNetBackbone",
    "FNetEncoder", "MaskedLM", "MaskedLMHead", "MaskedLMMaskGenerator", "MaskedLMPreprocessor",
    "PositionEmbedding", "RelativePositionAttention", "ReversibleEmbedding",
    "RobertaBackbone", "RobertaPreLNBackbone", "SentencePieceTokenizer", "TextEmbeddings",
    "TransformerEncoder",
    "WordPieceTokenizer", "XLMRobertaBackbone",
]
