"""BERT's WordPiece tokenizer as a Keras layer over tensorflow-text's FastBertTokenizer."""
import os

import keras
import tensorflow as tf

from cloze.config import SPECIAL_TOKENS
from cloze.data.wordpiece import fast_bert_tokenizer, read_vocabulary, write_vocabulary

VOCABULARY_FILE = "vocabulary.txt"


@keras.saving.register_keras_serializable(package="cloze")
class WordPieceTokenizer(keras.layers.Layer):
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
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self.lowercase = lowercase
        self.vocabulary = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def set_vocabulary(self, vocabulary):
        if isinstance(vocabulary, str):
            vocabulary = read_vocabulary(vocabulary)
        missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
        if missing:
            raise ValueError(f"vocabulary lacks the special token(s) {missing}.")
        self.vocabulary = list(vocabulary)
        self._token_to_id = {token: i for i, token in enumerate(self.vocabulary)}
        self._tokenizer = fast_bert_tokenizer(self.vocabulary, self.lowercase)

    def _require_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError("WordPieceTokenizer has no vocabulary yet; pass one or load a preset.")

    def vocabulary_size(self) -> int:
        self._require_vocabulary()
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        self._require_vocabulary()
        return self._token_to_id[token]

    def id_to_token(self, token_id: int) -> str:
        self._require_vocabulary()
        return self.vocabulary[int(token_id)]

    @property
    def pad_token_id(self):
        return self.token_to_id("[PAD]")

    @property
    def cls_token_id(self):
        return self.token_to_id("[CLS]")

    @property
    def sep_token_id(self):
        return self.token_to_id("[SEP]")

    @property
    def mask_token_id(self):
        return self.token_to_id("[MASK]")

    def special_token_ids(self):
        return [self.token_to_id(t) for t in SPECIAL_TOKENS]

    def tokenize(self, texts) -> tf.RaggedTensor:
        """``(batch,)`` strings to a ``(batch, None)`` ragged int32 tensor of ids."""
        self._require_vocabulary()
        ids = self._tokenizer.tokenize(tf.convert_to_tensor(texts, tf.string))
        return tf.cast(ids, tf.int32)

    def call(self, inputs):
        return self.tokenize(inputs)

    def save_assets(self, asset_dir: str) -> None:
        self._require_vocabulary()
        write_vocabulary(self.vocabulary, os.path.join(asset_dir, VOCABULARY_FILE))

    def load_assets(self, asset_dir: str) -> None:
        self.set_vocabulary(os.path.join(asset_dir, VOCABULARY_FILE))

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": None, "lowercase": self.lowercase})
        return config
