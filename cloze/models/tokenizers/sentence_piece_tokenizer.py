"""SentencePiece (ALBERT, XLM-RoBERTa) as a Keras layer over tf-text's SentencepieceTokenizer.

Two id layouts:

- ``"albert"``: ids are the model's own; the model holds ``<pad>=0 <unk>=1
  [CLS]=2 [SEP]=3 [MASK]=4`` (ALBERT's ``spiece.model``).
- ``"xlm_roberta"``: fairseq's layout over a model with SentencePiece's default
  ``<unk>=0 <s>=1 </s>=2``: ``<s>=0 <pad>=1 </s>=2 <unk>=3``, every other piece
  at its SentencePiece id + 1, and ``<mask>`` as the last id. The shift is a
  TensorFlow op, so it is part of an exported SavedModel too.
"""
import io
import os
from typing import Iterable

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from cloze.models.tokenizers.tokenizer import VocabularyTokenizer

PROTO_FILE = "vocabulary.spm"
LAYOUTS = ("albert", "xlm_roberta")
ALBERT_SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]",
                         "mask": "[MASK]"}
XLM_ROBERTA_SPECIAL_TOKENS = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>",
                              "mask": "<mask>"}
# fairseq puts these four first, then SentencePiece's pieces from its id 3 on.
_XLM_ROBERTA_HEAD = ("<s>", "<pad>", "</s>", "<unk>")
_XLM_ROBERTA_OFFSET = 1


@keras.saving.register_keras_serializable(package="cloze")
class SentencePieceTokenizer(VocabularyTokenizer):
    """Splits text into SentencePiece ids, entirely in-graph.

    The serialized model proto is saved as an asset
    (``assets/tokenizer/vocabulary.spm`` in a preset), never inside the JSON config.

    Args:
        proto: the serialized ``ModelProto`` (bytes) or the path of a ``.model`` file.
        layout: ``"albert"`` (the model's own ids, ``[CLS] [SEP] [MASK]`` in it) or
            ``"xlm_roberta"`` (fairseq's ids, see the module docstring).
        lowercase: lower-case the text first (ALBERT's ``do_lower_case``).

    Example:
    >>> proto = train_sentence_piece(["the cat sat on the mat"] * 20, 30, layout="albert")
    >>> tokenizer = SentencePieceTokenizer(proto, layout="albert", lowercase=True)
    >>> tokenizer.cls_token_id, tokenizer.mask_token_id
    (2, 4)
    >>> ids = tokenizer.tokenize(["The cat sat"])
    >>> tokenizer.detokenize(ids).numpy().tolist()
    [b'the cat sat']
    """

    def __init__(self, proto=None, layout="albert", lowercase=False, **kwargs):
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r} is not one of {list(LAYOUTS)}.")
        super().__init__(pair_layout="bert" if layout == "albert" else "roberta", **kwargs)
        self.layout = layout
        self.lowercase = lowercase
        self.proto = None
        if proto is not None:
            self.set_proto(proto)

    def set_proto(self, proto) -> None:
        source = None
        if isinstance(proto, str):
            source = proto
            with tf.io.gfile.GFile(proto, "rb") as f:
                proto = f.read()
        self.proto = proto
        self._sentence_piece = tf_text.SentencepieceTokenizer(proto, out_type=tf.int32)
        size = int(self._sentence_piece.vocab_size())
        pieces = [piece.decode("utf-8") for piece in
                  self._sentence_piece.id_to_string(tf.range(size)).numpy()]
        if self.layout == "albert":
            self.set_vocabulary(pieces, ALBERT_SPECIAL_TOKENS, source)
        else:
            self.set_vocabulary(list(_XLM_ROBERTA_HEAD) + pieces[3:] + ["<mask>"],
                                XLM_ROBERTA_SPECIAL_TOKENS, source)

    def tokenize(self, texts) -> tf.RaggedTensor:
        """``(batch,)`` strings to a ``(batch, None)`` ragged int32 tensor of ids."""
        self._require_vocabulary()
        texts = tf.convert_to_tensor(texts, tf.string)
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        ids = self._sentence_piece.tokenize(texts)
        if self.layout == "xlm_roberta":
            # SentencePiece's <unk> (0) becomes fairseq's <unk>; every other piece shifts by one.
            ids = tf.ragged.map_flat_values(
                lambda flat: tf.where(flat == 0, self.unk_token_id, flat + _XLM_ROBERTA_OFFSET),
                ids)
        return ids

    def detokenize(self, ids) -> tf.Tensor:
        """Ragged ids to strings; ``pad cls sep mask`` are dropped, ``<unk>`` shows as `` ⁇ ``."""
        self._require_vocabulary()
        dropped = [self.pad_token_id, self.cls_token_id, self.sep_token_id, self.mask_token_id]
        ids = tf.ragged.boolean_mask(ids, tf.reduce_all(
            tf.not_equal(tf.expand_dims(ids, -1), dropped), axis=-1))
        if self.layout == "xlm_roberta":
            ids = tf.ragged.map_flat_values(
                lambda flat: tf.where(flat == self.unk_token_id, 0, flat - _XLM_ROBERTA_OFFSET),
                ids)
        return self._sentence_piece.detokenize(ids)

    def save_assets(self, asset_dir: str) -> None:
        self._require_vocabulary()
        with open(os.path.join(asset_dir, PROTO_FILE), "wb") as f:
            f.write(self.proto)

    def load_assets(self, asset_dir: str) -> None:
        self.set_proto(os.path.join(asset_dir, PROTO_FILE))

    def get_config(self):
        config = super().get_config()
        config.update({"proto": None, "layout": self.layout, "lowercase": self.lowercase})
        return config


def train_sentence_piece(texts: Iterable[str], vocab_size: int, layout: str = "albert",
                         model_type: str = "unigram", **options) -> bytes:
    """Trains a SentencePiece model on ``texts`` (one sentence or line each) for ``layout``.

    Returns the serialized model proto, which ``SentencePieceTokenizer`` takes.
    ``"albert"`` reserves ``<pad> <unk> [CLS] [SEP] [MASK]`` as ids 0 to 4;
    ``"xlm_roberta"`` keeps SentencePiece's ``<unk> <s> </s>`` (the tokenizer
    adds ``<pad>`` and ``<mask>``). ``options`` go to ``SentencePieceTrainer``
    (``character_coverage``, ``input_sentence_size`` ...).

    Example:
    >>> proto = train_sentence_piece(["low lower lowest"] * 10, 20, layout="xlm_roberta")
    >>> tokenizer = SentencePieceTokenizer(proto, layout="xlm_roberta")
    >>> tokenizer.vocabulary[:4], tokenizer.mask_token_id == tokenizer.vocabulary_size() - 1
    (['<s>', '<pad>', '</s>', '<unk>'], True)
    """
    import sentencepiece

    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {list(LAYOUTS)}.")
    if layout == "albert":
        ids = {"pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1,
               "control_symbols": ["[CLS]", "[SEP]", "[MASK]"]}
    else:
        ids = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size,
        model_type=model_type, hard_vocab_limit=False, minloglevel=2, **{**ids, **options})
    return model.getvalue()
