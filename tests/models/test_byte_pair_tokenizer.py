"""BytePairTokenizer: GPT-2's word split without lookahead, BPE merges, presets, SavedModels."""
import json

import numpy as np
import pytest
import tensorflow as tf

from cloze.models import MaskedLM, MaskedLMPreprocessor, RobertaBackbone
from cloze.models.convert import export_hf, load_hf
from cloze.models.tokenizers.byte_pair_tokenizer import (BytePairTokenizer, split_words,
                                                         train_byte_pair)

TEXTS = ["Hello world, it's 2024!", "  spaced\tout\n\nlines  ", "naïve café 😀"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = TEXTS * 20 + ["the quick brown fox jumps over the lazy dog"] * 20
    return BytePairTokenizer(*train_byte_pair(texts, 400,
                                              str(tmp_path_factory.mktemp("bpe"))))


@pytest.mark.parametrize("text, words", [
    ("a  b", [b"a", b" ", b" b"]),                 # a run leaves its last space to the word
    ("a\n\nb", [b"a", b"\n", b"\n"] + [b"b"]),     # ... but a newline cannot join the word
    ("a \n b", [b"a", b" \n", b" b"]),
    ("end   ", [b"end", b"   "]),                   # a run at the end stays whole
    ("x  's", [b"x", b" ", b" '", b"s"]),           # a space before a contraction
    ("don't", [b"don", b"'t"]),
    ("a\x00!b", [b"a", b"\x00!", b"b"]),            # NUL is an ordinary symbol
    ("x\u3000y", [b"x", "\u3000".encode(), b"y"]),  # Unicode whitespace, not RE2's ASCII \s
])
def test_split_words_follows_gpt2_pattern(text, words):
    assert split_words(tf.constant([text])).to_list() == [words]


def test_merges_the_leftmost_occurrence_of_the_best_pair_first():
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>",
                                         "a", "aa", "aaa"])}
    tokenizer = BytePairTokenizer(vocab, ["a a", "aa a"])
    # a.a.a.a.a -> aa.a.a.a -> aa.aa.a -> aa.aaa, as Hugging Face's BPE does.
    assert [tokenizer.id_to_token(i) for i in tokenizer.tokenize(["aaaaa"]).to_list()[0]] == [
        "aa", "aaa"]


def test_special_tokens_are_robertas(tokenizer):
    assert [tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id,
            tokenizer.unk_token_id, tokenizer.mask_token_id] == [0, 1, 2, 3, 4]


def test_detokenize_restores_the_text(tokenizer):
    texts = tokenizer.detokenize(tokenizer.tokenize(TEXTS)).numpy()
    assert [t.decode("utf-8") for t in texts] == TEXTS


def test_merges_file_without_two_parts_is_refused(tmp_path, tokenizer):
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({t: i for i, t in enumerate(tokenizer.vocabulary)}))
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\nh e\nbad\n")
    with pytest.raises(ValueError, match=r"merges.txt: merge\(s\) \[\(2, 'bad'\)\]"):
        BytePairTokenizer(str(vocab), str(merges))


def test_roberta_pairs_pack_with_a_double_separator(tokenizer):
    preprocessor = MaskedLMPreprocessor(tokenizer, sequence_length=12)
    first = tokenizer.tokenize(["the fox"])
    second = tokenizer.tokenize(["lazy dog"])
    packed = preprocessor.pack(first, second)
    expected = [0] + first.to_list()[0] + [2, 2] + second.to_list()[0] + [2]
    row = packed["token_ids"].numpy()[0].tolist()
    assert row == expected + [1] * (12 - len(expected))
    assert packed["segment_ids"].numpy().sum() == 0


def test_masked_text_keeps_mask_and_absorbs_the_space_before_it(tokenizer):
    preprocessor = MaskedLMPreprocessor(tokenizer, sequence_length=8)
    inputs = preprocessor.encode_masked_text(["the <mask> fox"], num_masks=1)
    expected = ([0] + tokenizer.tokenize(["the"]).to_list()[0] + [4]
                + tokenizer.tokenize([" fox"]).to_list()[0] + [2])
    assert inputs["token_ids"].numpy()[0].tolist()[:len(expected)] == expected
    assert inputs["mask_positions"].numpy().tolist() == [[expected.index(4)]]


@pytest.fixture(scope="module")
def roberta_task(tokenizer):
    backbone = RobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
                               num_heads=2, hidden_dim=8, intermediate_dim=16,
                               max_sequence_length=16)
    return MaskedLM(backbone, MaskedLMPreprocessor(tokenizer, sequence_length=16))


def test_preset_round_trip_keeps_the_ids(roberta_task, tmp_path):
    roberta_task.save_to_preset(str(tmp_path))
    loaded = MaskedLM.from_preset(str(tmp_path)).preprocessor.tokenizer
    assert isinstance(loaded, BytePairTokenizer)
    assert loaded.tokenize(TEXTS).to_list() == roberta_task.preprocessor.tokenizer.tokenize(
        TEXTS).to_list()


def test_hugging_face_export_writes_vocab_json_and_merges_that_import_reads_back(
        roberta_task, tokenizer, tmp_path):
    export_hf(roberta_task, str(tmp_path))
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["<mask>"] == (
        tokenizer.mask_token_id)
    preprocessor = load_hf(str(tmp_path)).preprocessor
    assert isinstance(preprocessor.tokenizer, BytePairTokenizer)
    assert preprocessor.sequence_length == roberta_task.backbone.max_sequence_length
    assert preprocessor.tokenizer.tokenize(TEXTS).to_list() == tokenizer.tokenize(TEXTS).to_list()


def test_tokenizer_runs_inside_a_saved_model(tokenizer, saved_model_tokenize):
    np.testing.assert_array_equal(saved_model_tokenize(tokenizer)(tf.constant(TEXTS)).numpy(),
                                  tokenizer.tokenize(TEXTS).to_tensor(-1).numpy())


def test_empty_texts_give_empty_rows(tokenizer):
    assert tokenizer.tokenize(["", "the", ""]).to_list()[::2] == [[], []]
