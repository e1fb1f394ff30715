"""Turns raw text into masked-LM model inputs, in-graph."""
import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from cloze.models import presets
from cloze.models.layers.masked_lm_mask_generator import MaskedLMMaskGenerator
from cloze.models.tokenizers.word_piece_tokenizer import WordPieceTokenizer


@keras.saving.register_keras_serializable(package="cloze")
class MaskedLMPreprocessor(keras.layers.Layer):
    """Raw text to masked-LM inputs: tokenize, pack ``cls tokens sep``, mask.

    Called on a batch of strings (e.g. inside ``MaskedLM.fit`` or a tf.data
    ``map``), it returns ``(inputs, labels, sample_weights)`` with fresh dynamic
    masks each time, chosen by ``MaskedLMMaskGenerator`` under the same rule as
    the Beam data stage. ``encode_masked_text`` instead keeps each literal
    mask token (``[MASK]``, RoBERTa's ``<mask>``) in the text (WordPiece alone
    would split ``[MASK]`` into ``[``, ``mask``, ``]``), with the whitespace
    before it, and reports where the masks are: the inputs of fill-mask.

    The special ids come from the tokenizer, and so does the layout of a pair
    (``pack(first, second)``): ``[CLS] A [SEP] B [SEP]`` with segment ids 0
    and 1 for WordPiece and ALBERT, ``<s> A </s></s> B </s>`` with segment ids
    0 for RoBERTa and XLM-R.

    Args:
        tokenizer: a ``WordPieceTokenizer``, ``SentencePieceTokenizer`` or
            ``BytePairTokenizer``.
        sequence_length: the packed length, ``cls`` and ``sep`` included.
        mask_selection_rate: share of tokens chosen for prediction.
        mask_selection_length: the most predictions per sequence.
        mask_token_rate: share of chosen tokens replaced by ``[MASK]``.
        random_token_rate: share replaced by a random token.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> pre = MaskedLMPreprocessor(WordPieceTokenizer(vocab), sequence_length=8)
    >>> x = pre.encode_masked_text(["the [MASK] sat"], num_masks=2)
    >>> x["token_ids"].numpy().tolist(), x["mask_positions"].numpy().tolist()
    ([[2, 5, 4, 7, 3, 0, 0, 0]], [[2, 0]])
    >>> inputs, labels, weights = pre(["the cat sat the cat sat"])
    >>> tuple(inputs["mask_positions"].shape), int(weights.numpy().sum())
    ((1, 96), 1)
    """

    def __init__(self, tokenizer, sequence_length=512, mask_selection_rate=0.15,
                 mask_selection_length=96, mask_token_rate=0.8, random_token_rate=0.1,
                 **kwargs):
        super().__init__(**kwargs)
        # Called on Python lists of strings too, which Keras would refuse by default.
        self._allow_non_tensor_positional_args = True
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.mask_selection_rate = mask_selection_rate
        self.mask_selection_length = mask_selection_length
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self._mask_generator = None
        if tokenizer.vocabulary is not None:
            self._build_mask_generator()

    def build(self, input_shape=None):
        self.built = True

    def _build_mask_generator(self):
        """Needs the vocabulary, which a preset loads after construction."""
        self._mask_generator = MaskedLMMaskGenerator(
                vocabulary_size=self.tokenizer.vocabulary_size(),
                mask_selection_rate=self.mask_selection_rate,
                mask_token_id=self.tokenizer.mask_token_id,
                mask_selection_length=self.mask_selection_length,
                unselectable_token_ids=self.tokenizer.special_token_ids(),
                mask_token_rate=self.mask_token_rate,
                random_token_rate=self.random_token_rate)

    @property
    def mask_generator(self) -> MaskedLMMaskGenerator:
        if self._mask_generator is None:
            raise ValueError("MaskedLMPreprocessor has no vocabulary yet; load a preset or "
                             "give the tokenizer a vocabulary.")
        return self._mask_generator

    def call(self, x, y=None, sample_weight=None):
        """Strings ``(batch,)`` to ``(inputs, mask_ids, mask_weights)`` for ``fit``."""
        inputs = self.pack(self.tokenizer.tokenize(tf.convert_to_tensor(x, tf.string)))
        masked = self.mask_generator(inputs["token_ids"])
        inputs["token_ids"] = masked["token_ids"]
        inputs["mask_positions"] = masked["mask_positions"]
        return inputs, masked["mask_ids"], masked["mask_weights"]

    def _tokenize_keeping_masks(self, texts):
        mask_token = self.tokenizer.id_to_token(self.tokenizer.mask_token_id)
        pieces = tf.strings.split(texts, sep=mask_token)
        # Every piece but a text's last is followed by a mask, which takes the ASCII
        # whitespace (RE2's \s) before it.
        last = pieces.row_splits[1:, tf.newaxis] - 1
        followed_by_mask = tf.tensor_scatter_nd_update(
            tf.ones_like(pieces.flat_values, tf.bool), last, tf.zeros_like(last[:, 0], tf.bool))
        text = tf.where(followed_by_mask,
                        tf.strings.regex_replace(pieces.flat_values, r"\s+\z", ""),
                        pieces.flat_values)
        tokens = self.tokenizer.tokenize(text)
        mask_part = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(followed_by_mask, tf.int32))],
                    tf.cast(self.tokenizer.mask_token_id, tokens.dtype)),
            tf.cast(followed_by_mask, tf.int64))
        per_piece = tf.concat([tokens, mask_part], axis=1)
        return tf.RaggedTensor.from_row_splits(per_piece, pieces.row_splits).merge_dims(1, 2)

    def pack(self, token_ids, second_ids=None):
        """Ragged ``(batch, None)`` ids to dense ``token_ids``, ``segment_ids``, ``padding_mask``.

        With ``second_ids``, packs pairs in the tokenizer's layout, trimming the
        longer segment first (round robin) to fit ``sequence_length``.
        """
        roberta = self.tokenizer.pair_layout == "roberta"
        sep = self.tokenizer.sep_token_id
        if second_ids is None:
            segments = [token_ids[:, : self.sequence_length - 2]]
        else:
            budget = self.sequence_length - (4 if roberta else 3)
            segments = tf_text.RoundRobinTrimmer(budget).trim([token_ids, second_ids])
            if roberta:
                segments[1] = tf.concat(
                    [tf.fill([segments[1].nrows(), 1], tf.cast(sep, segments[1].dtype)),
                     segments[1]], axis=1)
        packed, segment_ids = tf_text.combine_segments(
            segments, self.tokenizer.cls_token_id, sep)
        if roberta:
            segment_ids = tf.zeros_like(segment_ids)
        shape = [None, self.sequence_length]
        return {
            "token_ids": packed.to_tensor(self.tokenizer.pad_token_id, shape=shape),
            "segment_ids": tf.cast(segment_ids, packed.dtype).to_tensor(0, shape=shape),
            "padding_mask": tf.ones_like(packed).to_tensor(0, shape=shape),
        }

    def encode_masked_text(self, texts, num_masks):
        """Model inputs for texts holding ``[MASK]``, plus ``mask_weights``.

        ``mask_positions`` lists each sequence's mask positions in order, padded
        with 0 to ``num_masks``; ``mask_weights`` is 1 where a position is real.
        Masks beyond ``num_masks`` or cut off by ``sequence_length`` are dropped.
        """
        inputs = self.pack(self._tokenize_keeping_masks(tf.convert_to_tensor(texts, tf.string)))
        is_mask = tf.equal(inputs["token_ids"], self.tokenizer.mask_token_id)
        positions = tf.ragged.boolean_mask(
            tf.broadcast_to(tf.range(self.sequence_length), tf.shape(is_mask)), is_mask)
        positions = positions[:, :num_masks]
        inputs["mask_positions"] = positions.to_tensor(0, shape=[None, num_masks])
        inputs["mask_weights"] = tf.ones_like(positions).to_tensor(0, shape=[None, num_masks])
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update({"tokenizer": keras.layers.serialize(self.tokenizer),
                       "sequence_length": self.sequence_length,
                       "mask_selection_rate": self.mask_selection_rate,
                       "mask_selection_length": self.mask_selection_length,
                       "mask_token_rate": self.mask_token_rate,
                       "random_token_rate": self.random_token_rate})
        return config

    @classmethod
    def from_config(cls, config):
        config["tokenizer"] = keras.layers.deserialize(config["tokenizer"])
        return cls(**config)

    def save_to_preset(self, preset_dir: str) -> None:
        """Writes ``preprocessor.json``, ``tokenizer.json`` and the vocabulary asset."""
        presets.save_serialized(self, preset_dir, presets.PREPROCESSOR_CONFIG_FILE)
        presets.save_serialized(self.tokenizer, preset_dir, presets.TOKENIZER_CONFIG_FILE)
        asset_dir = os.path.join(preset_dir, presets.TOKENIZER_ASSET_DIR)
        os.makedirs(asset_dir, exist_ok=True)
        self.tokenizer.save_assets(asset_dir)

    def load_preset_assets(self, preset: str) -> None:
        self.tokenizer.load_assets(presets.preset_file(preset, presets.TOKENIZER_ASSET_DIR))
        self._build_mask_generator()

    @classmethod
    def from_preset(cls, preset: str, **kwargs):
        preprocessor = presets.load_serialized(preset, presets.PREPROCESSOR_CONFIG_FILE, cls,
                                               **kwargs)
        preprocessor.load_preset_assets(preset)
        return preprocessor
