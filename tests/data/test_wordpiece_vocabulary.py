"""Learning, reading and checking WordPiece vocabularies."""

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf

from cloze.config import SPECIAL_TOKENS, VocabConfig
from cloze.data.corpus import Document
from cloze.data.default_corpus import stdlib_documents
from cloze.data.features import make_document_example
from cloze.data.jobs import learn_vocabulary
from cloze.data.wordpiece import (VocabularyError, fast_bert_tokenizer, read_vocabulary,
                                  write_vocabulary)

VOCAB_SIZE = 400


@pytest.fixture(scope="module")
def tiny_corpus():
    """About 5 KB of English prose, where most words occur once or twice."""
    texts, size = [], 0
    for text in stdlib_documents():
        texts.append(text)
        size += len(text)
        if size > 5_000:
            return texts


@pytest.fixture(scope="module")
def learned(tiny_corpus, tmp_path_factory):
    """The vocabulary that the learn_vocabulary job makes from ``tiny_corpus``."""
    root = tmp_path_factory.mktemp("vocab")
    with tf.io.TFRecordWriter(str(root / "documents.gz"), options="GZIP") as writer:
        for number, text in enumerate(tiny_corpus):
            writer.write(make_document_example(Document(f"d:{number}", text)).SerializeToString())
    return learn_vocabulary(beam.Pipeline(), str(root / "documents*"),
                            VocabConfig(vocab_size=VOCAB_SIZE), str(root / "out" / "vocab.txt"))


def test_learned_vocabulary_starts_with_special_tokens_and_fits_its_size(learned):
    assert learned[:len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert len(set(learned)) == len(learned) <= VOCAB_SIZE
    assert len(learned) > VOCAB_SIZE // 2


def test_learned_vocabulary_tokenizes_its_corpus_with_few_unknowns(learned, tiny_corpus):
    ids = fast_bert_tokenizer(learned, lower_case=True).tokenize(tf.constant(tiny_corpus))
    ids = ids.flat_values.numpy()

    assert np.mean(ids == learned.index("[UNK]")) < 0.05
    assert len(ids) > 500


def test_given_vocabulary_is_checked_and_copied(tmp_path):
    given = list(SPECIAL_TOKENS) + ["the", "##s"]
    write_vocabulary(given, str(tmp_path / "given.txt"))

    vocabulary = learn_vocabulary(beam.Pipeline(), "unused", VocabConfig(
        vocab_file=str(tmp_path / "given.txt")), str(tmp_path / "out" / "vocab.txt"))

    assert vocabulary == given
    assert read_vocabulary(str(tmp_path / "out" / "vocab.txt")) == given


def test_given_vocabulary_without_mask_is_rejected_naming_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")

    with pytest.raises(VocabularyError, match=rf"{path}: special token\(s\) \[MASK\] missing"):
        learn_vocabulary(beam.Pipeline(), "unused", VocabConfig(vocab_file=str(path)),
                         str(tmp_path / "out.txt"))


def test_duplicate_tokens_are_rejected_naming_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(list(SPECIAL_TOKENS) + ["the", "a", "the"]) + "\n")

    with pytest.raises(VocabularyError, match=r"'the' on lines 6, 8"):
        read_vocabulary(str(path))


def test_tokenizer_splits_words_into_pieces_and_unknowns():
    vocabulary = list(SPECIAL_TOKENS) + ["mask", "##ed", "word", "."]
    tokenizer = fast_bert_tokenizer(vocabulary, lower_case=True)

    ids = tokenizer.tokenize(tf.constant(["MASKED Wörd. ☃"])).to_list()

    assert ids == [[5, 6, 7, 8, 1]]


def test_lower_case_false_keeps_case():
    vocabulary = list(SPECIAL_TOKENS) + ["Word", "word"]

    ids = fast_bert_tokenizer(vocabulary, lower_case=False).tokenize(tf.constant(["Word word"]))

    assert ids.to_list() == [[5, 6]]
