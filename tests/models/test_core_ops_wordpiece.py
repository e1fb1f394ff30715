"""The core-ops WordPiece tokenizer gives tf-text's FastBertTokenizer ids: on the varied lines
of the tokenizer parity tests, on every code point, and on edge cases."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text

from cloze.config import SPECIAL_TOKENS
from cloze.data.wordpiece import fast_bert_tokenizer
from cloze.models import MaskedLMPreprocessor, WordPieceTokenizer
from cloze.models.tokenizers.core_ops_bert_tokenizer import CoreOpsBertTokenizer
from tests.models.test_tokenizer_parity import lines, wordpiece_pair  # noqa: F401 (fixtures)

EVERY_CODE_POINT = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
LETTERS = ["a", "b", "é", "ß", "σ", "中", "ｆ"]
VOCABULARY = (list(SPECIAL_TOKENS) + LETTERS + ["##" + c for c in LETTERS]
              + ["ab", "##ab", "ss", "\ufffd", "##\ufffd"])


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def tokenizers(request):
    """(lower_case, ours, tf-text's) over ``VOCABULARY``."""
    lower_case = request.param
    return (lower_case, CoreOpsBertTokenizer(VOCABULARY, lower_case),
            fast_bert_tokenizer(VOCABULARY, lower_case))


def differing(tokenizers, texts) -> list:
    """The texts that ours and tf-text's tokenizer split into different ids."""
    _, ours, reference = tokenizers
    ours, expected = (t.tokenize(tf.constant(texts)) for t in (ours, reference))
    if (np.array_equal(ours.row_splits.numpy(), expected.row_splits.numpy())
            and np.array_equal(ours.flat_values.numpy(), expected.flat_values.numpy())):
        return []
    ours, expected = ours.to_list(), expected.to_list()
    return [texts[i] for i in range(len(texts)) if ours[i] != expected[i]]


def test_in_a_graph_word_pieces_are_tf_texts_on_varied_lines(lines, wordpiece_pair):
    """In a graph the layer runs the core ops; eagerly, tf-text's FastBertTokenizer."""
    lower_case, vocabulary, _ = wordpiece_pair
    tokenizer = WordPieceTokenizer(vocabulary, lowercase=lower_case)
    in_graph = tf.function(tokenizer.tokenize)(tf.constant(lines)).to_list()
    expected = fast_bert_tokenizer(vocabulary, lower_case).tokenize(tf.constant(lines)).to_list()
    assert [line for line, ours, ids in zip(lines, in_graph, expected) if ours != ids] == []


def test_every_code_point_is_normalized_as_tf_text_normalizes_it(tokenizers):
    lower_case, ours, _ = tokenizers
    texts = tf.constant([chr(c).encode("utf-8") for c in EVERY_CODE_POINT])
    normalized = ours.normalize(tf.strings.unicode_decode(texts, "UTF-8"))
    normalizer = tensorflow_text.FastBertNormalizer(lower_case_nfd_strip_accents=lower_case)
    expected = tf.strings.unicode_decode(normalizer.normalize(texts), "UTF-8")
    assert np.array_equal(normalized.row_splits.numpy(), expected.row_splits.numpy())
    assert np.array_equal(normalized.flat_values.numpy(), expected.flat_values.numpy())


def test_every_code_point_splits_and_matches_as_tf_text_does(tokenizers):
    """Each code point inside a word: how it splits the word, and the pieces."""
    assert differing(tokenizers, [f"ab{chr(c)}b" for c in EVERY_CODE_POINT]) == []


def test_edge_texts_match_tf_text(tokenizers):
    texts = ["", " ", "\t\n\u3000 \u00a0", "\x00", "a\x00b", "\x00\x00 \x00", "\ufffd",
             "a\ufffdb", "\ufffe\ufdd0", "a" * 100, "a" * 101, "b" + "é" * 49, "b" + "é" * 50,
             "中" * 40, "ab" * 60 + " ab", "ΣΑΣ σας", "e\u0301 E\u0301\u0323", "Straße ﬁne ①",
             "#a ## [MASK] [UNK]"]
    assert differing(tokenizers, texts + [text + " a" for text in texts]) == []


def test_invalid_utf8_makes_its_word_unknown_as_in_tf_text(tokenizers):
    texts = [b"a\xffb", b"\xff", b"b\xe2\x82 a", b"a\xe2\x82!b", b"ab\xc3", b"\xed\xa0\x80b"]
    assert differing(tokenizers, texts) == []


def test_words_over_the_byte_limit_become_unknown():
    tokenizer = CoreOpsBertTokenizer(VOCABULARY, lower_case=False, max_bytes_per_word=4)
    assert tokenizer.tokenize(tf.constant(["abab ababa éé ééé"])).to_list() == [
        [19, 20, 1, 7, 14, 1]]


def test_the_graph_holds_only_core_tensorflow_ops():
    tokenizer = WordPieceTokenizer(VOCABULARY)
    graph = tf.function(tokenizer.tokenize).get_concrete_function(
        tf.TensorSpec([None], tf.string)).graph.as_graph_def()
    ops = {node.op for node in graph.node}
    ops |= {node.op for function in graph.library.function for node in function.node_def}
    assert sorted(ops - set(dir(tf.raw_ops))) == []


def test_fill_mask_inputs_keep_the_text_after_a_nul_byte():
    preprocessor = MaskedLMPreprocessor(WordPieceTokenizer(VOCABULARY), sequence_length=8)
    inputs = preprocessor.encode_masked_text(["a\x00b [MASK] b"], num_masks=1)
    assert inputs["token_ids"].numpy().tolist() == [[2, 5, 6, 4, 6, 3, 0, 0]]
    assert inputs["mask_positions"].numpy().tolist() == [[3]]
