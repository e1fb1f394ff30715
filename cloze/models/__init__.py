"""Models: layers -> backbones -> heads -> tasks, plus tokenizers, preprocessors and presets."""
from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import BertBackbone
from cloze.models.heads.masked_lm_head import MaskedLMHead
from cloze.models.layers.position_embedding import PositionEmbedding
from cloze.models.layers.reversible_embedding import ReversibleEmbedding
from cloze.models.layers.transformer_encoder import TransformerEncoder
from cloze.models.preprocessors.masked_lm_preprocessor import MaskedLMPreprocessor
from cloze.models.tasks.masked_lm import MaskedLM
from cloze.models.tokenizers.word_piece_tokenizer import WordPieceTokenizer

__all__ = [
    "Backbone", "BertBackbone", "MaskedLM", "MaskedLMHead", "MaskedLMPreprocessor",
    "PositionEmbedding", "ReversibleEmbedding", "TransformerEncoder", "WordPieceTokenizer",
]
