"""BERT's WordPiece tokenization in core TensorFlow ops, id for id what tf-text's
``FastBertTokenizer`` gives, so that a SavedModel needs no tensorflow-text op.

tf-text's tokenizer runs two steps, both reproduced here:

1. ``FastBertNormalizer`` maps every code point on its own (no context): to
   itself, to nothing, to a space (control and format characters) or, uncased,
   to its NFKC case-folded, accent-stripped form (``ß`` -> ``ss``, ``É`` -> ``e``,
   a Hangul syllable -> its jamo). The table of the code points it changes is
   built once per process by running tf-text's own normaliser over every code
   point, and kept as constants in the graph: 23,808 entries and 357 KB
   uncased, 235 entries and 3 KB cased.
2. ``FastWordpieceTokenizer`` splits the normalised text at whitespace (dropped)
   and around punctuation and CJK ideographs (each its own word), then each
   word greedily into the longest vocabulary pieces, ``##`` marking a piece that
   continues a word. A word longer than ``max_bytes_per_word`` bytes, holding
   invalid UTF-8, or not fully matched becomes the unknown token. Which code
   points are whitespace or split characters is again read off tf-text, as runs
   of equal class over the code space (381 runs).

Speed: the longest-match step is a ``tf.while_loop`` with one iteration per
piece of the longest word needing a split; each iteration looks up every
candidate length (up to the longest vocabulary piece) of every such word.
Words found whole in the vocabulary skip the loop. In a graph it is about ten
times slower than tf-text's op, called eagerly about fifty times
(docs/serving.md), which is why ``WordPieceTokenizer`` runs it only in graphs.
"""
import functools

import numpy as np
import tensorflow as tf

# tf.strings.unicode_decode puts this (a lone surrogate, which valid UTF-8 never
# encodes) in place of invalid bytes; tf-text keeps such bytes in the word, which
# then matches no vocabulary token.
_INVALID_BYTES = 0xD800
_REGULAR, _WHITESPACE, _SPLIT = 0, 1, 2
_BYTES = [bytes([b]) for b in range(256)]  # a list: no TensorFlow op at import


@functools.lru_cache(maxsize=None)
def _every_code_point() -> tuple:
    """Every code point but the surrogates, and each one's UTF-8 bytes.

    Encoded in Python: ``tf.strings.unicode_encode`` would replace the
    noncharacters (U+FFFE, U+FDD0 ...), which tf-text keeps, by U+FFFD.
    """
    code_points = np.arange(0x110000, dtype=np.int32)
    code_points = code_points[(code_points < 0xD800) | (code_points > 0xDFFF)]
    return code_points, np.array([chr(c).encode("utf-8") for c in code_points.tolist()], object)


@functools.lru_cache(maxsize=None)
def normalization_table(lower_case: bool) -> tuple:
    """``(keys, splits, values)``: code point ``keys[i]`` becomes ``values[splits[i]:splits[i+1]]``.

    Holds only the code points tf-text's ``FastBertNormalizer`` changes; sorted by key.

    Example:
    >>> keys, splits, values = normalization_table(lower_case=True)
    >>> i = int(np.searchsorted(keys, ord("ß")))
    >>> "".join(map(chr, values[splits[i]:splits[i + 1]]))
    'ss'
    """
    import tensorflow_text

    code_points, encoded = _every_code_point()
    normalizer = tensorflow_text.FastBertNormalizer(lower_case_nfd_strip_accents=lower_case)
    outputs = normalizer.normalize(tf.constant(encoded)).numpy()
    changed = np.flatnonzero(outputs != encoded)
    keys = code_points[changed]
    replacements = [[ord(c) for c in output.decode("utf-8")] for output in outputs[changed]]
    splits = np.cumsum([0] + [len(r) for r in replacements]).astype(np.int32)
    values = np.array([c for r in replacements for c in r], np.int32)
    return keys, splits, values


@functools.lru_cache(maxsize=None)
def split_classes() -> tuple:
    """``(starts, classes)``: runs of code points of one class, from ``starts[i]`` on.

    A class is ``0`` (part of a word), ``1`` (whitespace: ends a word, dropped)
    or ``2`` (punctuation or CJK ideograph: a word of its own), as tf-text's
    ``FastWordpieceTokenizer`` splits normalised text.

    Example:
    >>> starts, classes = split_classes()
    >>> [int(classes[np.searchsorted(starts, ord(c), side="right") - 1]) for c in "a !中"]
    [0, 1, 2, 2]
    """
    import tensorflow_text

    code_points, encoded = _every_code_point()
    # Between two letters, a regular character leaves one word, whitespace (class 1)
    # two and a split character (class 2) three.
    splitter = tensorflow_text.FastWordpieceTokenizer(["[UNK]", "y"], token_out_type=tf.int32)
    words = splitter.tokenize(tf.strings.join(["x", tf.constant(encoded), "x"]))
    classes = np.full(0x110000, _REGULAR, np.int8)
    classes[code_points] = words.row_lengths().numpy() - 1
    starts = np.flatnonzero(np.concatenate([[True], classes[1:] != classes[:-1]]))
    return starts.astype(np.int32), classes[starts]


def utf8(code_points: tf.Tensor) -> tf.Tensor:
    """``(n,)`` int32 code points to ``(n,)`` strings, each its UTF-8 bytes.

    Unlike ``tf.strings.unicode_encode``, which puts U+FFFD in their place, it
    encodes noncharacters (U+FFFE, U+FDD0 ...) as they are, as tf-text keeps them;
    it is slower, so words with one only are encoded with it.

    Example:
    >>> utf8(tf.constant([97, 0xE9, 0xFFFE, 0x1F600])).numpy().tolist()
    [b'a', b'\\xc3\\xa9', b'\\xef\\xbf\\xbe', b'\\xf0\\x9f\\x98\\x80']
    """
    length = 1 + sum(tf.cast(code_points >= bound, tf.int32) for bound in (0x80, 0x800, 0x10000))
    position = tf.range(4)[tf.newaxis, :]
    shift = 6 * tf.maximum(length[:, tf.newaxis] - 1 - position, 0)
    part = tf.bitwise.right_shift(code_points[:, tf.newaxis], shift)
    lead = tf.gather(tf.constant([0, 0x00, 0xC0, 0xE0, 0xF0]), length)[:, tf.newaxis]
    values = tf.where(tf.equal(position, 0), part | lead, (part & 0x3F) | 0x80)
    values = tf.ragged.boolean_mask(values, position < length[:, tf.newaxis])
    return tf.strings.reduce_join(tf.gather(tf.constant(_BYTES), values), axis=1)


class CoreOpsBertTokenizer(tf.Module):
    """tf-text's ``FastBertTokenizer`` (normalise, split words, WordPiece) in core TensorFlow ops.

    Args:
        vocabulary: the tokens, ids being their positions.
        lower_case: lower-case, NFKC case-fold and strip accents (uncased models).
        unknown_token: the token of a word that cannot be split into pieces.
        suffix_indicator: the prefix of a piece that continues a word.
        max_bytes_per_word: longer (normalised) words become ``unknown_token``.

    Example:
    >>> tokenizer = CoreOpsBertTokenizer(["[UNK]", "un", "##able", "!"], lower_case=True)
    >>> tokenizer.tokenize(tf.constant(["Unable!", "unknown"])).to_list()
    [[1, 2, 3], [0]]
    """

    def __init__(self, vocabulary, lower_case: bool, unknown_token: str = "[UNK]",
                 suffix_indicator: str = "##", max_bytes_per_word: int = 100):
        super().__init__()
        vocabulary = list(vocabulary)
        keys, splits, values = normalization_table(lower_case)
        self._normalized_keys = tf.constant(keys)
        self._normalized_splits = tf.constant(splits)
        self._normalized_values = tf.constant(values)
        starts, classes = split_classes()
        self._class_starts = tf.constant(starts)
        self._classes = tf.constant(classes)
        self._ids = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int64)), -1)
        self._unknown_id = vocabulary.index(unknown_token)
        self._suffix_indicator = suffix_indicator
        self._max_bytes_per_word = max_bytes_per_word
        self._max_piece_chars = max(
            len(t[len(suffix_indicator):] if t.startswith(suffix_indicator) else t)
            for t in vocabulary)
        # Traced once: every graph that tokenizes (each signature of a SavedModel)
        # calls this one function instead of holding its own copy of the ops.
        self.tokenize = tf.function(self._tokenize,
                                    input_signature=[tf.TensorSpec([None], tf.string)],
                                    autograph=False)

    def _tokenize(self, texts) -> tf.RaggedTensor:
        """``(batch,)`` strings to ``(batch, None)`` int64 ids."""
        code_points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace",
                                                replacement_char=_INVALID_BYTES)
        words = self.split_words(self.normalize(code_points))
        flat = words.values
        word_texts = tf.strings.unicode_encode(flat, "UTF-8")
        # unicode_encode writes U+FFFD for the 66 noncharacters, which tf-text keeps.
        code_point = flat.flat_values
        noncharacter = (((code_point >= 0xFDD0) & (code_point <= 0xFDEF))
                        | tf.equal(code_point & 0xFFFE, 0xFFFE))
        odd = tf.where(tf.reduce_any(flat.with_flat_values(noncharacter), axis=1))
        odd_words = tf.gather(flat, odd[:, 0])
        word_texts = tf.tensor_scatter_nd_update(word_texts, odd, tf.strings.reduce_join(
            odd_words.with_flat_values(utf8(odd_words.flat_values)), axis=1))
        unmatchable = (tf.reduce_any(tf.equal(flat, _INVALID_BYTES), axis=1)
                       | (tf.strings.length(word_texts) > self._max_bytes_per_word))
        ids = self._word_pieces(word_texts, unmatchable)
        return tf.RaggedTensor.from_row_splits(ids, words.row_splits).merge_dims(1, 2)

    def normalize(self, code_points: tf.RaggedTensor) -> tf.RaggedTensor:
        """``(batch, None)`` code points to the normalised ones, each mapped by the table."""
        flat = code_points.flat_values
        slot = tf.minimum(tf.searchsorted(self._normalized_keys, flat),
                          tf.size(self._normalized_keys) - 1)
        mapped = tf.equal(tf.gather(self._normalized_keys, slot), flat)
        # Unchanged code points are read from a copy of the input placed after the table.
        unchanged = tf.size(self._normalized_values) + tf.range(tf.size(flat))
        begin = tf.where(mapped, tf.gather(self._normalized_splits, slot), unchanged)
        end = tf.where(mapped, tf.gather(self._normalized_splits, slot + 1), unchanged + 1)
        source = tf.concat([self._normalized_values, flat], 0)
        replaced = tf.gather(source, tf.ragged.range(begin, end))
        return code_points.with_flat_values(replaced).merge_dims(1, 2)

    def split_words(self, code_points: tf.RaggedTensor) -> tf.RaggedTensor:
        """``(batch, None)`` normalised code points to ``(batch, words, chars)``."""
        flat = code_points.flat_values
        row = code_points.value_rowids()
        run = tf.searchsorted(self._class_starts, flat, side="right") - 1
        kind = tf.gather(self._classes, run)
        space, split = tf.equal(kind, _WHITESPACE), tf.equal(kind, _SPLIT)
        same_row_as_previous = tf.concat([[False], tf.equal(row[1:], row[:-1])], 0)
        after_space_or_split = tf.concat([[False], space[:-1] | split[:-1]], 0)
        starts_word = ~space & (~same_row_as_previous | after_space_or_split | split)
        word = tf.cumsum(tf.cast(starts_word, tf.int64)) - 1
        chars = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(flat, ~space), tf.boolean_mask(word, ~space),
            nrows=tf.reduce_sum(tf.cast(starts_word, tf.int64)))
        return tf.RaggedTensor.from_value_rowids(chars, tf.boolean_mask(row, starts_word),
                                                 nrows=code_points.nrows())

    def _word_pieces(self, words, unmatchable) -> tf.RaggedTensor:
        """``(words,)`` strings to ``(words, None)`` ids; most are found whole."""
        whole = self._ids.lookup(words)
        to_split = tf.where((whole < 0) & ~unmatchable)[:, 0]
        pieces = self._longest_match_first(tf.gather(words, to_split))
        one_piece = tf.where((whole >= 0) & ~unmatchable, whole, self._unknown_id)
        rows = tf.concat([tf.RaggedTensor.from_row_lengths(
            one_piece, tf.ones_like(one_piece)), pieces], 0)
        count = tf.size(words, out_type=tf.int64)
        row_of = tf.tensor_scatter_nd_update(
            tf.range(count), to_split[:, tf.newaxis], count + tf.range(tf.size(to_split,
                                                                              out_type=tf.int64)))
        return tf.gather(rows, row_of)

    def _longest_match_first(self, words) -> tf.RaggedTensor:
        """``(words,)`` strings to ``(words, None)`` pieces; the unknown id where no split fits."""
        chars = tf.strings.length(words, unit="UTF8_CHAR")

        def step(position, failed, pieces):
            active = tf.where((position < chars) & ~failed)[:, 0]
            lengths = tf.ragged.range(
                tf.minimum(tf.gather(chars - position, active), self._max_piece_chars), 0, -1)
            candidate_row = lengths.value_rowids()
            owner = tf.gather(active, candidate_row)
            start = tf.gather(position, owner)
            text = tf.strings.substr(tf.gather(words, owner), start, lengths.flat_values,
                                     unit="UTF8_CHAR")
            ids = self._ids.lookup(tf.where(start > 0, self._suffix_indicator + text, text))
            hit_length = tf.where(ids >= 0, lengths.flat_values, 0)
            longest = tf.math.segment_max(hit_length, candidate_row)
            best = tf.math.segment_max(tf.where(
                (ids >= 0) & tf.equal(hit_length, tf.gather(longest, candidate_row)), ids, -1),
                candidate_row)
            index = active[:, tf.newaxis]
            piece = tf.tensor_scatter_nd_update(-tf.ones_like(position, tf.int64), index, best)
            return (tf.tensor_scatter_nd_add(position, index, longest),
                    tf.tensor_scatter_nd_update(failed, index, tf.equal(longest, 0)),
                    tf.concat([pieces, piece[:, tf.newaxis]], 1))

        _, failed, pieces = tf.while_loop(
            lambda position, failed, _: tf.reduce_any((position < chars) & ~failed), step,
            (tf.zeros_like(chars), tf.zeros_like(chars, tf.bool),
             tf.zeros([tf.size(words), 0], tf.int64)),
            shape_invariants=(chars.shape, chars.shape, tf.TensorShape([None, None])))
        unknown_alone = tf.where(tf.equal(tf.range(tf.shape(pieces)[1]), 0),
                                 tf.constant(self._unknown_id, tf.int64), -1)
        pieces = tf.where(failed[:, tf.newaxis], unknown_alone, pieces)
        return tf.ragged.boolean_mask(pieces, pieces >= 0)
