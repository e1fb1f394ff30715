"""BERT's WordPiece tokenizer as a Keras layer whose graphs hold only core TensorFlow ops.

Called eagerly (as the Beam data stage calls it) it runs tensorflow-text's
``FastBertTokenizer``; inside a graph (a Keras model, a tf.data map, a SavedModel)
``CoreOpsBertTokenizer``, which gives the same ids with core ops only, so a
SavedModel needs no tensorflow-text op.
"""
import os

import keras
import tensorflow as tf

from cloze.config import SPECIAL_TOKENS
from cloze.data.wordpiece import fast_bert_tokenizer, read_vocabulary, write_vocabulary
from cloze.models.tokenizers.core_ops_bert_tokenizer import CoreOpsBertTokenizer
from cloze.models.tokenizers.tokenizer import SPECIAL_ROLES, VocabularyTokenizer

VOCABULARY_FILE = "vocabulary.txt"


# BERT's special tokens by role, in the order of ``SPECIAL_TOKENS``.
WORDPIECE_SPECIAL_TOKENS = dict(zip(SPECIAL_ROLES, SPECIAL_TOKENS))


@keras.saving.register_keras_serializable(package="cloze")
class WordPieceTokenizer(VocabularyTokenizer):
    """Splits text into WordPiece ids with BERT's normalisation, entirely in-graph.

    The vocabulary is saved as an asset (``assets/tokenizer/vocabulary.txt`` in a
    preset), never inside the JSON config.

    Args:
        vocabulary: a list of tokens or the path of a ``vocab.txt``; must hold
            ``[PAD] [UNK] [CLS] [SEP] [MASK]``.
        lowercase: lower-case and strip accents first (uncased models).

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s"]
    >>> tokenizer = WordPieceTokenizer(vocab)
    >>> tokenizer.tokenize(["The cats"]).to_list()
    [[5, 6, 7]]
    """

    def __init__(self, vocabulary=None, lowercase=True, **kwargs):
        super().__init__(pair_layout="bert", **kwargs)
        self.lowercase = lowercase
        if vocabulary is not None:
            self.set_wordpiece_vocabulary(vocabulary)

    def set_wordpiece_vocabulary(self, vocabulary) -> None:
        """Takes a token list or a ``vocab.txt`` path and builds the tokenizer's tables."""
        source = vocabulary if isinstance(vocabulary, str) else None
        if source:
            vocabulary = read_vocabulary(source)
        self.set_vocabulary(list(vocabulary), WORDPIECE_SPECIAL_TOKENS, source)
        self._eager_tokenizer = fast_bert_tokenizer(self.vocabulary, self.lowercase)
        # Built on first use in a graph: its tables take about a second per process,
        # which the Beam data stage, calling eagerly, never needs.
        self._graph_tokenizer = None

    def tokenize(self, texts) -> tf.RaggedTensor:
        """``(batch,)`` strings to a ``(batch, None)`` ragged int32 tensor of ids."""
        self._require_vocabulary()
        # Both give the same ids; tf-text's op is about ten times faster, the
        # core ops load in any TensorFlow (tests/models/test_core_ops_wordpiece.py).
        tokenizer = self._eager_tokenizer if tf.executing_eagerly() else self.graph_tokenizer()
        return tf.cast(tokenizer.tokenize(tf.convert_to_tensor(texts, tf.string)), tf.int32)

    def graph_tokenizer(self) -> CoreOpsBertTokenizer:
        """The core-ops tokenizer that graphs run, built (eagerly, outside any graph) once."""
        self._require_vocabulary()
        if self._graph_tokenizer is None:
            with tf.init_scope():
                self._graph_tokenizer = CoreOpsBertTokenizer(
                    self.vocabulary, self.lowercase, WORDPIECE_SPECIAL_TOKENS["unk"])
        return self._graph_tokenizer

    def save_assets(self, asset_dir: str) -> None:
        self._require_vocabulary()
        write_vocabulary(self.vocabulary, os.path.join(asset_dir, VOCABULARY_FILE))

    def load_assets(self, asset_dir: str) -> None:
        self.set_wordpiece_vocabulary(os.path.join(asset_dir, VOCABULARY_FILE))

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": None, "lowercase": self.lowercase})
        return config
