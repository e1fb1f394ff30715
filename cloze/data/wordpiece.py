"""The WordPiece vocabulary: learn it from the corpus, store it, tokenize with it.

As in google-research/bert, text is first split into words (whitespace,
punctuation and CJK characters split; lower-cased and accent-stripped for
uncased models), then each word greedily into the longest vocabulary pieces,
with ``##`` marking a piece that continues a word. A word that cannot be split
becomes ``[UNK]``. The vocabulary file is ``vocab.txt``: one token per line,
the line number (from 0) being the token id.
"""
from __future__ import annotations

import collections
import os
from typing import Iterable, Iterator, List, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
import tensorflow_text
from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

from cloze.config import SPECIAL_TOKENS, VocabConfig

# The learner's own default alphabet cap; smaller vocabularies get a smaller one below.
_MAX_ALPHABET = 1000


class VocabularyError(ValueError):
    """A vocabulary file is unusable; the message names the file and what would be right.

    Example:
    >>> isinstance(VocabularyError("vocab.txt: special token(s) [MASK] missing"), ValueError)
    True
    """


def fast_bert_tokenizer(vocabulary: Sequence[str], lower_case: bool
                        ) -> tensorflow_text.FastBertTokenizer:
    """The BERT tokenizer (word splitting, then WordPiece) over ``vocabulary``, giving int64 ids.

    Example:
    >>> vocabulary = list(SPECIAL_TOKENS) + ["mask", "##ed", "word", "."]
    >>> tokenizer = fast_bert_tokenizer(vocabulary, lower_case=True)
    >>> tokenizer.tokenize(tf.constant(["Masked word.", "Wörd?"])).to_list()
    [[5, 6, 7, 8], [7, 1]]
    """
    return tensorflow_text.FastBertTokenizer(
        vocab=list(vocabulary), token_out_type=tf.int64, unknown_token="[UNK]",
        lower_case_nfd_strip_accents=lower_case)


def read_vocabulary(path: str) -> list[str]:
    """Reads a ``vocab.txt`` (one token per line) from any filesystem TensorFlow can read.

    Raises:
        VocabularyError: a line is empty, a token appears twice, or a token of
            ``SPECIAL_TOKENS`` is missing; the message names the file and lines.
    """
    with tf.io.gfile.GFile(path, "r") as f:
        lines = f.read().split("\n")
    if lines[-1] == "":
        lines.pop()
    tokens = [line[:-1] if line.endswith("\r") else line for line in lines]
    _check_vocabulary(tokens, path)
    return tokens


def _check_vocabulary(tokens: Sequence[str], path: str) -> None:
    empty = [number for number, token in enumerate(tokens, start=1) if not token]
    if empty:
        raise VocabularyError(f"{path}: empty line(s) {_first(empty)}; "
                              "every line must hold exactly one token")
    lines_of = collections.defaultdict(list)
    for number, token in enumerate(tokens, start=1):
        lines_of[token].append(number)
    duplicates = [f"{token!r} on lines {', '.join(map(str, numbers))}"
                  for token, numbers in lines_of.items() if len(numbers) > 1]
    if duplicates:
        raise VocabularyError(f"{path}: duplicate token(s) {_first(duplicates)}; "
                              "each token must appear once, its line number being its id")
    missing = [token for token in SPECIAL_TOKENS if token not in lines_of]
    if missing:
        raise VocabularyError(f"{path}: special token(s) {', '.join(missing)} missing; "
                              f"a BERT vocabulary needs all of {', '.join(SPECIAL_TOKENS)}")


def _first(items: Sequence, limit: int = 10) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(map(str, items[:limit])) + more


def write_vocabulary(tokens: Iterable[str], path: str) -> None:
    """Writes ``tokens`` one per line to ``path``, creating its directory.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab", "vocab.txt")
    >>> write_vocabulary(list(SPECIAL_TOKENS) + ["the"], path)
    >>> read_vocabulary(path)[-2:]
    ['[MASK]', 'the']
    """
    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(token + "\n" for token in tokens))


def learn_wordpiece_vocabulary(word_counts: Iterable[Tuple[str, int]], vocab_size: int
                               ) -> list[str]:
    """Learns a WordPiece vocabulary of at most ``vocab_size`` tokens from word counts.

    ``SPECIAL_TOKENS`` come first, in order, then single characters (each also
    as a ``##`` piece, so that any word of known characters can be spelled),
    then the pieces by falling count. The threshold search may go down to a
    count of 1, so a corpus of a few KB, where most words occur once or twice,
    still gets whole words into its vocabulary.

    Example:
    >>> vocabulary = learn_wordpiece_vocabulary([("low", 5), ("lower", 2), ("newest", 6)], 60)
    >>> vocabulary[:len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS), "newest" in vocabulary
    (True, True)
    """
    # Sorted input makes the learner's count ties, and so the vocabulary, deterministic.
    word_counts = sorted(word_counts)
    if not word_counts:
        raise ValueError("no words to learn a vocabulary from: the documents are empty; "
                         "check that the train split holds documents")
    reserved = list(SPECIAL_TOKENS)
    vocabulary = wordpiece_tokenizer_learner_lib.learn(
        word_counts, vocab_size, reserved_tokens=reserved, lower_thresh=1,
        # Each character costs two entries (``c`` and ``##c``); keep them to half the budget.
        max_unique_chars=min(_MAX_ALPHABET, (vocab_size - len(reserved)) // 4))
    # The learner's search stops when the threshold cannot move, which can
    # leave it slightly over; the tail holds its rarest pieces.
    return vocabulary[:vocab_size]


class LearnVocabulary(beam.PTransform):
    """Document texts -> a ``PCollection`` with one element, the learned vocabulary.

    Words are split and counted in parallel; the word-type counts, which are
    small, are then gathered in one place for the learner.

    Example:
    >>> with beam.Pipeline() as p:  # doctest: +NORMALIZE_WHITESPACE
    ...     _ = (p | beam.Create(["low lower lowest", "Low"])
    ...          | LearnVocabulary(VocabConfig(vocab_size=50)) | beam.Map(print))
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'e', 'l', 'o', 'r', 's', 't', 'w', 'low',
     '##e', '##l', '##o', '##r', '##s', '##t', '##w', 'lower', 'lowest']
    """

    def __init__(self, config: VocabConfig):
        super().__init__()
        self._config = config

    def expand(self, texts):
        return (texts
                | "Batch" >> beam.BatchElements(max_batch_size=256)
                | "CountWordsPerBatch" >> beam.ParDo(_CountWordsFn(self._config.lower_case))
                | "SumCounts" >> beam.CombinePerKey(sum)
                | "GatherCounts" >> beam.combiners.ToList()
                | "Learn" >> beam.Map(learn_wordpiece_vocabulary,
                                      vocab_size=self._config.vocab_size))


class _CountWordsFn(beam.DoFn):
    """A batch of texts -> (word, count in the batch), split as BERT splits words."""

    def __init__(self, lower_case: bool):
        self._lower_case = lower_case

    def setup(self):
        self._tokenizer = BasicTokenizer(lower_case=self._lower_case)

    def process(self, texts: List[str]) -> Iterator[Tuple[str, int]]:
        words = self._tokenizer.tokenize(tf.constant(texts)).flat_values.numpy()
        for word, count in collections.Counter(words).items():
            yield word.decode("utf-8"), count
