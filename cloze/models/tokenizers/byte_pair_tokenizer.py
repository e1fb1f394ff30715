"""Byte-level BPE (GPT-2, RoBERTa) as a Keras layer, entirely in core TensorFlow ops
(a SavedModel with it needs no tensorflow-text).

Three steps, as GPT-2 defined them:

1. Split the text into words with GPT-2's pattern: contractions (``'s 't 're
   've 'm 'll 'd``), letters, numbers and other characters (each optionally
   after one space), and whitespace. Its rule ``\\s+(?!\\S)`` (a whitespace run
   leaves its last character to the next word) needs a lookahead, which RE2
   lacks: here whitespace is matched one character at a time and the runs are
   joined again afterwards, leaving the same last character alone.
2. Map every byte of a word to a printable character (GPT-2's byte-to-unicode
   table), so that the vocabulary holds no raw bytes.
3. Repeatedly merge the adjacent pair of highest priority (lowest line of
   ``merges.txt``) in every word, leftmost first, until no pair is mergeable,
   in one ``tf.while_loop`` over all words of the batch at once.

Speed: step 3 takes as many loop iterations as the longest word of the batch
needs merges; every iteration touches all symbols of the batch's distinct
words. There is no cache across batches.
"""
import json
import os
from typing import Iterable

import keras
import tensorflow as tf

from cloze.models.tokenizers.tokenizer import VocabularyTokenizer

VOCABULARY_FILE = "vocabulary.json"
MERGES_FILE = "merges.txt"
ROBERTA_SPECIAL_TOKENS = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>",
                          "mask": "<mask>"}
ROBERTA_SPECIAL_ORDER = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# Unicode White_Space, which Python's and Oniguruma's \s mean; RE2's \s is ASCII only.
_WHITESPACE = (r"\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
               r"\x{202F}\x{205F}\x{3000}")
_WORD_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+"
                 rf"| ?[^{_WHITESPACE}\p{{L}}\p{{N}}]+|[{_WHITESPACE}]")
_ONE_WHITESPACE = rf"[{_WHITESPACE}]"
_NO_MERGE = 2 ** 30
_FRAME = b"\xff"


def bytes_to_unicode() -> list:
    """GPT-2's table: the printable character that stands for each byte 0..255.

    Printable Latin-1 bytes stand for themselves; the others, in order, for
    U+0100 onwards (so a space is ``Ġ``, a newline ``Ċ``).

    Example:
    >>> table = bytes_to_unicode()
    >>> table[ord("a")], table[ord(" ")], table[ord("\\n")]
    ('a', 'Ġ', 'Ċ')
    """
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table, extra = [], 0
    for byte in range(256):
        if byte in printable:
            table.append(chr(byte))
        else:
            table.append(chr(256 + extra))
            extra += 1
    return table


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """``(batch,)`` strings to ``(batch, None)`` words, as GPT-2's pre-tokenizer splits them.

    Example:
    >>> split_words(tf.constant(["Hello  world's 42!\\n"])).to_list()
    [[b'Hello', b' ', b' world', b"'s", b' 42', b'!', b'\\n']]
    """
    # Each match is framed by a byte that UTF-8 never holds, and the text split there:
    # the matches, and between them what the pattern cannot match (invalid UTF-8
    # bytes), as tf-text's regex_split gives them; a 0xFF byte in the input is lost.
    marked = tf.strings.regex_replace(texts, _WORD_PATTERN, _FRAME + rb"\0" + _FRAME)
    pieces = tf.strings.split(marked, sep=_FRAME)
    pieces = tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)
    row_ids = pieces.value_rowids()
    flat = pieces.flat_values
    is_space = tf.strings.regex_full_match(flat, _ONE_WHITESPACE)
    same_row_as_next = tf.concat([row_ids[1:] == row_ids[:-1], [False]], 0)
    next_is_space = tf.concat([is_space[1:], [False]], 0)
    next_starts_with_space = tf.concat([tf.strings.substr(flat[1:], 0, 1) == " ", [False]], 0)
    # A run's last character stays alone when the next word did not take it as its leading space.
    stays_alone = is_space & same_row_as_next & ~next_is_space & ~next_starts_with_space
    joins_previous = (is_space & ~stays_alone
                      & tf.concat([[False], is_space[:-1] & same_row_as_next[:-1]], 0))
    word_ids = tf.cumsum(tf.cast(~joins_previous, tf.int64)) - 1
    num_words = tf.reduce_sum(tf.cast(~joins_previous, tf.int64))
    joined = tf.strings.unsorted_segment_join(flat, word_ids, num_words)
    return tf.RaggedTensor.from_value_rowids(
        joined, tf.boolean_mask(row_ids, ~joins_previous), nrows=pieces.nrows())


@keras.saving.register_keras_serializable(package="cloze")
class BytePairTokenizer(VocabularyTokenizer):
    """Splits text into byte-level BPE ids (GPT-2, RoBERTa), entirely in-graph.

    ``vocab.json`` and ``merges.txt`` are saved as assets
    (``assets/tokenizer/vocabulary.json`` and ``merges.txt`` in a preset),
    never inside the JSON config. Special tokens are RoBERTa's ``<s> <pad>
    </s> <unk> <mask>``; text that spells one is tokenized as plain text.

    Args:
        vocabulary: a token-to-id dict or the path of a ``vocab.json``.
        merges: a list of ``"left right"`` merges, highest priority first, or the
            path of a ``merges.txt`` (a ``#version`` first line is skipped).

    Example:
    >>> vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>",
    ...                                      "a", "b", "Ġ", "ab", "Ġab"])}
    >>> tokenizer = BytePairTokenizer(vocab, ["a b", "Ġ ab"])
    >>> tokenizer.tokenize(["ab ab a"]).to_list()
    [[8, 9, 7, 5]]
    >>> tokenizer.detokenize(tokenizer.tokenize(["ab ab a"])).numpy().tolist()
    [b'ab ab a']
    """

    def __init__(self, vocabulary=None, merges=None, **kwargs):
        super().__init__(pair_layout="roberta", **kwargs)
        self.merges = None
        if vocabulary is not None and merges is not None:
            self.set_vocabulary_and_merges(vocabulary, merges)

    def set_vocabulary_and_merges(self, vocabulary, merges) -> None:
        source = vocabulary if isinstance(vocabulary, str) else None
        if source:
            vocabulary = read_vocabulary_json(source)
        if isinstance(merges, str):
            merges = read_merges(merges)
        tokens = sorted(vocabulary, key=vocabulary.get)
        if [vocabulary[t] for t in tokens] != list(range(len(tokens))):
            raise ValueError(f"{source or 'BytePairTokenizer'}: the vocabulary's ids must be "
                             f"0..n-1, each once.")
        self.set_vocabulary(tokens, ROBERTA_SPECIAL_TOKENS, source)
        self.merges = list(merges)
        self._ids = _table(tokens, range(len(tokens)), self.unk_token_id)
        self._ranks = _table(self.merges, range(len(self.merges)), _NO_MERGE)
        table = bytes_to_unicode()
        self._byte_chars = _table([bytes([b]) for b in range(256)], table, "")
        inverse = [0] * (max(map(ord, table)) + 1)
        for byte, char in enumerate(table):
            inverse[ord(char)] = byte
        self._char_bytes = tf.constant(inverse, tf.int32)
        self._byte_strings = tf.constant([bytes([b]) for b in range(256)])
        self._tokens = tf.constant(tokens)
        # A graph even when called eagerly: an eager tf.while_loop is a slow Python loop.
        self._merge_graph = tf.function(self._merge, input_signature=[
            tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int64)])

    def tokenize(self, texts) -> tf.RaggedTensor:
        """``(batch,)`` strings to a ``(batch, None)`` ragged int32 tensor of ids."""
        self._require_vocabulary()
        words = split_words(tf.convert_to_tensor(texts, tf.string))
        # Each distinct word of the batch is merged once.
        distinct, index = tf.unique(words.flat_values)
        symbols = tf.strings.bytes_split(distinct)
        pieces = self._merge_graph(symbols.flat_values, symbols.row_splits)
        ids = tf.gather(pieces.with_flat_values(self._ids.lookup(pieces.flat_values)), index)
        return words.with_flat_values(ids).merge_dims(1, 2)

    def _merge(self, byte_values, word_splits) -> tf.RaggedTensor:
        symbols = self._byte_chars.lookup(byte_values)

        def merge_once(symbols, splits, _):
            positions = tf.range(tf.size(symbols, out_type=splits.dtype), dtype=splits.dtype)
            word_of = tf.ragged.row_splits_to_segment_ids(splits)
            num_words = tf.size(splits) - 1
            has_next = tf.concat([word_of[1:] == word_of[:-1], [False]], 0)
            following = tf.concat([symbols[1:], [""]], 0)
            ranks = tf.where(has_next, self._ranks.lookup(symbols + " " + following), _NO_MERGE)
            best = tf.gather(tf.math.unsorted_segment_min(ranks, word_of, num_words), word_of)
            candidates = tf.where((ranks == best) & (ranks < _NO_MERGE), positions,
                                  tf.size(symbols, out_type=splits.dtype))
            first = tf.math.unsorted_segment_min(candidates, word_of, num_words)
            merge_at = positions == tf.gather(first, word_of)
            merged = tf.where(merge_at, symbols + following, symbols)
            keep = ~tf.concat([[False], merge_at[:-1]], 0)
            merges_per_word = tf.math.unsorted_segment_sum(
                tf.cast(merge_at, splits.dtype), word_of, num_words)
            splits = splits - tf.concat([[0], tf.cumsum(merges_per_word)], 0)
            return tf.boolean_mask(merged, keep), splits, ~tf.reduce_any(merge_at)

        symbols, word_splits, _ = tf.while_loop(
            lambda symbols, splits, done: ~done, merge_once,
            (symbols, word_splits, tf.equal(tf.size(symbols), 0)),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]),
                              tf.TensorShape([])))
        return tf.RaggedTensor.from_row_splits(symbols, word_splits)

    def detokenize(self, ids) -> tf.Tensor:
        """Ragged ids to strings; ``pad cls sep mask`` are dropped."""
        self._require_vocabulary()
        dropped = [self.pad_token_id, self.cls_token_id, self.sep_token_id, self.mask_token_id]
        ids = tf.ragged.boolean_mask(ids, tf.reduce_all(
            tf.not_equal(tf.expand_dims(ids, -1), dropped), axis=-1))
        chars = tf.strings.unicode_decode(
            tf.strings.reduce_join(tf.gather(self._tokens, ids), axis=-1), "UTF-8")
        return tf.strings.reduce_join(
            tf.gather(self._byte_strings, tf.gather(self._char_bytes, chars)), axis=-1)

    def save_assets(self, asset_dir: str) -> None:
        self._require_vocabulary()
        with open(os.path.join(asset_dir, VOCABULARY_FILE), "w", encoding="utf-8") as f:
            json.dump({token: i for i, token in enumerate(self.vocabulary)}, f,
                      ensure_ascii=False)
        write_merges(self.merges, os.path.join(asset_dir, MERGES_FILE))

    def load_assets(self, asset_dir: str) -> None:
        self.set_vocabulary_and_merges(os.path.join(asset_dir, VOCABULARY_FILE),
                                       os.path.join(asset_dir, MERGES_FILE))

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": None, "merges": None})
        return config


def _table(keys, values, default):
    keys, values = tf.constant(list(keys)), tf.constant(list(values))
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default)


def read_vocabulary_json(path: str) -> dict:
    """A ``vocab.json`` (token to id) from any filesystem TensorFlow can read."""
    with tf.io.gfile.GFile(path, "r") as f:
        return json.loads(f.read())


def read_merges(path: str) -> list:
    """The merges of a ``merges.txt``, highest priority first; checks each has two parts."""
    with tf.io.gfile.GFile(path, "r") as f:
        lines = f.read().split("\n")
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    merges = [line for line in lines if line]
    bad = [(number, line) for number, line in enumerate(merges, start=1)
           if len(line.split(" ")) != 2]
    if bad:
        raise ValueError(f"{path}: merge(s) {bad[:5]} are not 'left right'.")
    return merges


def write_merges(merges, path: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("#version: 0.2\n" + "".join(merge + "\n" for merge in merges))


def train_byte_pair(texts: Iterable[str], vocab_size: int, out_dir: str,
                    min_frequency: int = 2) -> tuple:
    """Learns a byte-level BPE with Hugging Face ``tokenizers``; RoBERTa's special tokens first.

    Writes ``vocab.json`` and ``merges.txt`` to ``out_dir`` and returns their paths.

    Example:
    >>> import tempfile
    >>> vocab, merges = train_byte_pair(["low lower lowest"] * 10, 300, tempfile.mkdtemp())
    >>> BytePairTokenizer(vocab, merges).tokenize(["lowest"]).to_list()[0][-1] > 260
    True
    """
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(ROBERTA_SPECIAL_ORDER), show_progress=False)
    os.makedirs(out_dir, exist_ok=True)
    return tuple(tokenizer.save_model(out_dir))
