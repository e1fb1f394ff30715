"""cloze.data.tokenizers: the data pipeline's tokenizer for each VocabConfig.tokenizer."""
import pytest

from cloze.config import SPECIAL_TOKENS, ConfigError, VocabConfig
from cloze.data.tokenizers import learn_tokenizer, load_tokenizer, word_continuations
from cloze.data.mlm_examples import shared_tokenizer
from cloze.data.wordpiece import write_vocabulary

LINES = ["The cat sat on the mat.", "", "A dog ran after the cat.",
         "Cats and dogs are animals."] * 30


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind, specials", [
    ("sentencepiece", ("[CLS]", "[SEP]", "[MASK]", "<pad>")),
    ("byte_bpe", ("<s>", "</s>", "<mask>", "<pad>")),
])
def test_learned_tokenizer_loads_with_its_special_tokens(kind, specials, corpus_file, tmp_path):
    config = VocabConfig(vocab_size=300, tokenizer=kind)
    learn_tokenizer(config, corpus_file, str(tmp_path / "vocab"))
    tokenizer = load_tokenizer(config, str(tmp_path / "vocab"))
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id,
           tokenizer.pad_token_id)
    assert tuple(tokenizer.vocabulary[i] for i in ids) == specials
    assert len(tokenizer.vocabulary) <= 300


@pytest.mark.parametrize("kind", ["sentencepiece", "byte_bpe"])
def test_tokenizer_learned_from_an_iterator_round_trips_its_text(kind, tmp_path):
    config = VocabConfig(vocab_size=300, tokenizer=kind)
    learn_tokenizer(config, iter(LINES), str(tmp_path))
    tokenizer = load_tokenizer(config, str(tmp_path))
    text = tokenizer.detokenize(tokenizer.tokenize(["the cat sat on the mat."]))
    assert text.numpy().tolist() == [b"the cat sat on the mat."]


def test_lower_cased_sentencepiece_gives_upper_and_lower_case_the_same_ids(corpus_file,
                                                                           tmp_path):
    config = VocabConfig(vocab_size=300, tokenizer="sentencepiece", lower_case=True)
    learn_tokenizer(config, corpus_file, str(tmp_path))
    tokenizer = load_tokenizer(config, str(tmp_path))
    upper, lower = tokenizer.tokenize(["THE CAT", "the cat"]).to_list()
    assert upper == lower


def test_wordpiece_loads_vocab_txt(tmp_path):
    write_vocabulary(list(SPECIAL_TOKENS) + ["cat"], str(tmp_path / "vocab.txt"))
    tokenizer = load_tokenizer(VocabConfig(), str(tmp_path))
    assert tokenizer.tokenize(["Cat"]).to_list() == [[5]]


def test_shared_tokenizer_reads_a_vocabulary_rewritten_in_place(tmp_path):
    write_vocabulary(list(SPECIAL_TOKENS) + ["cat"], str(tmp_path / "vocab.txt"))
    assert shared_tokenizer(str(tmp_path), VocabConfig()).tokenize(["dog"]).to_list() == [[1]]
    write_vocabulary(list(SPECIAL_TOKENS) + ["cat", "dog"], str(tmp_path / "vocab.txt"))
    assert shared_tokenizer(str(tmp_path), VocabConfig()).tokenize(["dog"]).to_list() == [[6]]


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"needs vocab.json, merges.txt in .*merges.txt"):
        (tmp_path / "vocab.json").write_text("{}")
        load_tokenizer(VocabConfig(tokenizer="byte_bpe"), str(tmp_path))


def test_learning_wordpiece_points_to_the_beam_transform(tmp_path):
    with pytest.raises(ValueError, match="LearnVocabulary"):
        learn_tokenizer(VocabConfig(), LINES, str(tmp_path))


def test_unknown_tokenizer_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"vocab.tokenizer='bpe' is invalid: expected one of"):
        VocabConfig(tokenizer="bpe")


@pytest.mark.parametrize("kind, vocabulary, expected", [
    ("wordpiece", ["[CLS]", "cat", "##s", "[MASK]"], [False, False, True, False]),
    ("sentencepiece", ["[CLS]", "▁cat", "s", "[MASK]"], [False, False, True, False]),
    ("byte_bpe", ["<s>", "Ġcat", "s", "<mask>"], [False, False, True, False]),
])
def test_word_continuations_follow_each_tokenizers_word_mark(kind, vocabulary, expected):
    assert word_continuations(kind, vocabulary).tolist() == expected
