"""Cloze's in-graph tokenizers give the ids of the reference implementations.

References: Hugging Face ``tokenizers`` (WordPiece, byte-level BPE) and the
``sentencepiece`` library, each on the same model files, over a few thousand
varied lines generated here plus lines of the built-in corpus. Inherent
differences are asserted exactly as docs/data.md ("Tokenizer parity") states them.
"""
import itertools
import random
import unicodedata

import pytest
import sentencepiece
import tensorflow as tf
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer

from cloze.config import SPECIAL_TOKENS
from cloze.data.default_corpus import stdlib_documents
from cloze.data.tokenizers import batch_token_ids
from cloze.data.wordpiece import fast_bert_tokenizer
from cloze.models.tokenizers.byte_pair_tokenizer import BytePairTokenizer, train_byte_pair
from cloze.models.tokenizers.sentence_piece_tokenizer import (SentencePieceTokenizer,
                                                              train_sentence_piece)
from cloze.models.tokenizers.word_piece_tokenizer import WordPieceTokenizer

FRAGMENTS = {
    "accents": ["café", "naïve", "Åström", "Ελληνικά", "Ñandú", "résumé", "İstanbul", "straße",
                "ﬁne"],
    "cjk": ["日本語のテキスト", "中文分词", "한국어", "漢字かなカナ"],
    "emoji": ["😀", "👍🏽", "🇫🇷", "❤️", "👨\u200d👩\u200d👧"],
    "control": ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\u200b", "\ufeff", "\x85"],
    "numbers": ["3.14", "1,000,000", "²", "٣٤", "12abc", "0x1F", "-42"],
    "punctuation": ["!", "?!", "...", "«quoted»", "(x)", "#tag", "@user", "--", '"', "$5", "—"],
    "contractions": ["don't", "I'm", "they'll", "we've", "'S", "she'd", "'re", "O'Neil"],
}
WHITESPACE = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2003", " \n ", "\r\n", "   "]


def varied_lines(count: int, seed: int = 0) -> list:
    """Lines mixing corpus words, every fragment kind, very long words and odd whitespace."""
    rng = random.Random(seed)
    words = list(itertools.islice((word for document in stdlib_documents()
                                   for word in document.split()), 3000))
    kinds = sorted(FRAGMENTS)
    lines = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            draw = rng.random()
            if draw < 0.5:
                parts.append(rng.choice(words))
            elif draw < 0.52:
                parts.append("".join(rng.choice("abcdefghij") for _ in range(rng.randint(60, 150))))
            else:
                parts.append(rng.choice(FRAGMENTS[rng.choice(kinds)]))
            parts.append(rng.choice(WHITESPACE) if rng.random() < 0.3 else " ")
        lines.append("".join(parts))
    return lines


@pytest.fixture(scope="module")
def lines():
    corpus_lines = [line for document in itertools.islice(stdlib_documents(), 200)
                    for line in document.split("\n") if line.strip()][:1000]
    return varied_lines(2000) + corpus_lines


def tensorflow_text_normalization(line: str, lowercase: bool) -> str:
    """What tf-text's BERT splitting does differently from Hugging Face's, as text.

    Cased, a format character (Unicode ``Cf``: zero-width joiner, BOM ...)
    splits words where Hugging Face drops it; uncased, tf-text applies NFKC
    case folding (``ß``->``ss``, ``ﬁ``->``fi``, ``²``->``2``), which also drops
    format characters, where Hugging Face only lower-cases.
    """
    if not lowercase:
        return "".join(" " if unicodedata.category(c) == "Cf" else c for c in line)
    line = "".join(c for c in line if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", line).casefold())


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def wordpiece_pair(request, lines, tmp_path_factory):
    lowercase = request.param
    trainer = BertWordPieceTokenizer(lowercase=lowercase)
    trainer.train_from_iterator(lines, vocab_size=3000, special_tokens=list(SPECIAL_TOKENS),
                                show_progress=False)
    vocab_file = trainer.save_model(str(tmp_path_factory.mktemp("wordpiece")))[0]
    with open(vocab_file, encoding="utf-8") as f:
        vocabulary = f.read().split("\n")[:-1]
    return lowercase, vocabulary, BertWordPieceTokenizer(vocab_file, lowercase=lowercase)


def test_wordpiece_matches_hugging_face_after_the_documented_normalization(lines,
                                                                          wordpiece_pair):
    lowercase, vocabulary, reference = wordpiece_pair
    ours = WordPieceTokenizer(vocabulary, lowercase=lowercase).tokenize(lines).to_list()
    expected = [encoding.ids for encoding in reference.encode_batch(
        [tensorflow_text_normalization(line, lowercase) for line in lines],
        add_special_tokens=False)]
    assert [i for i in range(len(lines)) if ours[i] != expected[i]] == []


def test_data_pipeline_wordpiece_matches_the_model_tokenizer(lines, wordpiece_pair):
    lowercase, vocabulary, _ = wordpiece_pair
    data = fast_bert_tokenizer(vocabulary, lowercase).tokenize(tf.constant(lines))
    model = WordPieceTokenizer(vocabulary, lowercase=lowercase).tokenize(lines)
    assert data.to_list() == model.to_list()


def test_wordpiece_lines_without_affected_characters_match_hugging_face_unchanged(
        lines, wordpiece_pair):
    lowercase, vocabulary, reference = wordpiece_pair
    plain = [line for line in lines if tensorflow_text_normalization(line, lowercase)
             == (line.lower() if lowercase else line)]
    assert len(plain) > len(lines) // 2
    ours = WordPieceTokenizer(vocabulary, lowercase=lowercase).tokenize(plain).to_list()
    assert ours == [e.ids for e in reference.encode_batch(plain, add_special_tokens=False)]


def small_wordpiece_pair(tmp_path, tokens, lowercase):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("".join(f"{t}\n" for t in list(SPECIAL_TOKENS) + tokens),
                          encoding="utf-8")
    return (WordPieceTokenizer(str(vocab_file), lowercase=lowercase),
            BertWordPieceTokenizer(str(vocab_file), lowercase=lowercase))


def test_uncased_wordpiece_case_folds_where_hugging_face_lowercases(tmp_path):
    ours, reference = small_wordpiece_pair(tmp_path, ["strasse", "straße"], lowercase=True)
    assert ours.tokenize(["Straße"]).to_list() == [[5]]
    assert reference.encode("Straße", add_special_tokens=False).ids == [6]


def test_cased_wordpiece_splits_at_format_characters_hugging_face_drops(tmp_path):
    ours, reference = small_wordpiece_pair(tmp_path, ["a", "b", "ab"], lowercase=False)
    assert ours.tokenize(["a\u200db"]).to_list() == [[5, 6]]
    assert reference.encode("a\u200db", add_special_tokens=False).ids == [7]


def test_byte_level_bpe_matches_hugging_face(lines, tmp_path):
    vocab_file, merges_file = train_byte_pair(lines, 2000, str(tmp_path))
    ours = BytePairTokenizer(vocab_file, merges_file).tokenize(lines).to_list()
    reference = ByteLevelBPETokenizer(vocab_file, merges_file)
    expected = [encoding.ids for encoding in reference.encode_batch(lines)]
    assert [i for i in range(len(lines)) if ours[i] != expected[i]] == []


def test_byte_level_bpe_detokenizes_to_the_original_text(lines, tmp_path):
    tokenizer = BytePairTokenizer(*train_byte_pair(lines, 1000, str(tmp_path)))
    texts = tokenizer.detokenize(tokenizer.tokenize(lines)).numpy()
    assert [text.decode("utf-8") for text in texts] == lines


@pytest.mark.parametrize("layout", ["albert", "xlm_roberta"])
def test_sentence_piece_bpe_model_matches_sentencepiece(lines, layout):
    proto = train_sentence_piece(lines, 1000, layout=layout, model_type="bpe")
    ours = SentencePieceTokenizer(proto, layout=layout).tokenize(lines).to_list()
    expected = sentencepiece.SentencePieceProcessor(model_proto=proto).encode(lines)
    if layout == "xlm_roberta":  # fairseq's <unk> is 3, every other id moves up by one
        expected = [[3 if i == 0 else i + 1 for i in ids] for ids in expected]
    assert [i for i in range(len(lines)) if ours[i] != expected[i]] == []


def test_sentence_piece_unigram_model_differs_from_sentencepiece_only_in_ties(lines):
    """tf-text bundles an older SentencePiece: equal-score segmentations may be chosen apart."""
    proto = train_sentence_piece(lines, 1000, layout="albert", model_type="unigram")
    reference = sentencepiece.SentencePieceProcessor(model_proto=proto)
    ours = SentencePieceTokenizer(proto, layout="albert").tokenize(lines).to_list()
    expected = reference.encode(lines)
    differing = [i for i in range(len(lines)) if ours[i] != expected[i]]
    assert len(differing) <= len(lines) // 100
    for i in differing:
        assert reference.decode(ours[i]) == reference.decode(expected[i])
        assert sum(map(reference.get_score, ours[i])) == pytest.approx(
            sum(map(reference.get_score, expected[i])), abs=1e-4)


def test_data_stage_byte_level_bpe_gives_the_graph_ids(lines, tmp_path):
    tokenizer = BytePairTokenizer(*train_byte_pair(lines, 2000, str(tmp_path)))
    ids, row_splits = batch_token_ids(tokenizer)(lines)
    graph = tokenizer.tokenize(lines)
    assert row_splits.tolist() == graph.row_splits.numpy().tolist()
    assert ids.tolist() == graph.flat_values.numpy().tolist()
