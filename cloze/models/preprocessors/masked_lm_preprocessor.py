"""Turns raw text into masked-LM model inputs, in-graph."""
import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from cloze.models import presets
from cloze.models.tokenizers.word_piece_tokenizer import WordPieceTokenizer

MASK_TOKEN = "[MASK]"


@keras.saving.register_keras_serializable(package="cloze")
class MaskedLMPreprocessor(keras.layers.Layer):
    """Packs text as ``[CLS] tokens [SEP]`` padded to ``sequence_length``.

    ``encode_masked_text`` keeps each literal ``[MASK]`` in the text as the mask
    token (WordPiece alone would split it into ``[``, ``mask``, ``]``) and
    reports where the masks are: the inputs of fill-mask.

    Args:
        tokenizer: a ``WordPieceTokenizer``.
        sequence_length: the packed length, ``[CLS]`` and ``[SEP]`` included.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> pre = MaskedLMPreprocessor(WordPieceTokenizer(vocab), sequence_length=8)
    >>> x = pre.encode_masked_text(["the [MASK] sat"], num_masks=2)
    >>> x["token_ids"].numpy().tolist(), x["mask_positions"].numpy().tolist()
    ([[2, 5, 4, 7, 3, 0, 0, 0]], [[2, 0]])
    """

    def __init__(self, tokenizer, sequence_length=512, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length

    def _tokenize_keeping_masks(self, texts):
        pieces = tf_text.regex_split(texts, r"\[MASK\]", keep_delim_regex_pattern=r"\[MASK\]")
        flat = pieces.flat_values
        tokens = self.tokenizer.tokenize(flat)
        is_mask = tf.equal(flat, MASK_TOKEN)
        keep = tf.logical_not(is_mask)
        text_part = tf.ragged.boolean_mask(
            tokens, tf.ones_like(tokens, tf.bool) & keep[:, tf.newaxis])
        mask_part = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(is_mask, tf.int32))], self.tokenizer.mask_token_id),
            tf.cast(is_mask, tf.int64))
        per_piece = tf.concat([mask_part, text_part], axis=1)
        return tf.RaggedTensor.from_row_splits(per_piece, pieces.row_splits).merge_dims(1, 2)

    def pack(self, token_ids):
        """Ragged ``(batch, None)`` ids to dense ``token_ids``, ``segment_ids``, ``padding_mask``."""
        token_ids = token_ids[:, : self.sequence_length - 2]
        batch = token_ids.nrows()
        cls = tf.fill([batch, 1], self.tokenizer.cls_token_id)
        sep = tf.fill([batch, 1], self.tokenizer.sep_token_id)
        packed = tf.concat([cls, token_ids, sep], axis=1)
        shape = [None, self.sequence_length]
        return {
            "token_ids": packed.to_tensor(self.tokenizer.pad_token_id, shape=shape),
            "segment_ids": tf.zeros_like(packed).to_tensor(0, shape=shape),
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
                       "sequence_length": self.sequence_length})
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

    @classmethod
    def from_preset(cls, preset: str, **kwargs):
        preprocessor = presets.load_serialized(preset, presets.PREPROCESSOR_CONFIG_FILE, cls,
                                               **kwargs)
        preprocessor.load_preset_assets(preset)
        return preprocessor
