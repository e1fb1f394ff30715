"""SentencePieceTokenizer: ALBERT's and XLM-R's id layouts, presets, checkpoints, SavedModels."""
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from cloze.models import AlbertBackbone, MaskedLM, MaskedLMPreprocessor, XLMRobertaBackbone
from cloze.models.convert import export_hf, load_hf
from cloze.models.tokenizers.sentence_piece_tokenizer import (SentencePieceTokenizer,
                                                              train_sentence_piece)

TEXTS = ["The quick brown fox.", "jumps over the lazy dog", "Zebra ☃ unseen"]
TRAINING = ["the quick brown fox jumps over the lazy dog", "a lazy afternoon for the fox",
            "quick thinking and brown paper"] * 20


@pytest.fixture(scope="module")
def albert_proto():
    return train_sentence_piece(TRAINING, 60, layout="albert")


@pytest.fixture(scope="module")
def xlm_proto():
    return train_sentence_piece(TRAINING, 60, layout="xlm_roberta")


def test_albert_layout_reserves_pad_unk_cls_sep_mask(albert_proto):
    tokenizer = SentencePieceTokenizer(albert_proto, layout="albert")
    assert tokenizer.vocabulary[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert tokenizer.special_token_ids() == [0, 1, 2, 3, 4]


def test_albert_layout_ids_are_the_model_ids(albert_proto):
    tokenizer = SentencePieceTokenizer(albert_proto, layout="albert")
    expected = sentencepiece.SentencePieceProcessor(model_proto=albert_proto).encode(TEXTS)
    assert tokenizer.tokenize(TEXTS).to_list() == expected


def test_xlm_roberta_layout_shifts_ids_by_one_and_maps_unk_to_three(xlm_proto):
    tokenizer = SentencePieceTokenizer(xlm_proto, layout="xlm_roberta")
    reference = sentencepiece.SentencePieceProcessor(model_proto=xlm_proto)
    expected = [[3 if i == 0 else i + 1 for i in ids] for ids in reference.encode(TEXTS)]
    assert tokenizer.tokenize(TEXTS).to_list() == expected
    assert 3 in expected[2]  # "☃" is unknown


def test_xlm_roberta_layout_has_fairseq_specials_and_mask_last(xlm_proto):
    tokenizer = SentencePieceTokenizer(xlm_proto, layout="xlm_roberta")
    size = sentencepiece.SentencePieceProcessor(model_proto=xlm_proto).get_piece_size()
    assert tokenizer.vocabulary[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert tokenizer.vocabulary_size() == size + 2
    assert tokenizer.mask_token_id == size + 1
    assert tokenizer.id_to_token(4) == sentencepiece.SentencePieceProcessor(
        model_proto=xlm_proto).id_to_piece(3)


@pytest.mark.parametrize("layout", ["albert", "xlm_roberta"])
def test_detokenize_matches_sentencepiece_decode(layout, albert_proto, xlm_proto):
    proto = albert_proto if layout == "albert" else xlm_proto
    tokenizer = SentencePieceTokenizer(proto, layout=layout)
    reference = sentencepiece.SentencePieceProcessor(model_proto=proto)
    texts = tokenizer.detokenize(tokenizer.tokenize(TEXTS)).numpy()
    assert [t.decode("utf-8") for t in texts] == [reference.decode(reference.encode(t))
                                                  for t in TEXTS]


def test_lowercase_lowercases_before_sentencepiece(albert_proto):
    tokenizer = SentencePieceTokenizer(albert_proto, layout="albert", lowercase=True)
    plain = SentencePieceTokenizer(albert_proto, layout="albert")
    assert tokenizer.tokenize(["THE FOX"]).to_list() == plain.tokenize(["the fox"]).to_list()


def test_unknown_layout_is_refused(albert_proto):
    with pytest.raises(ValueError, match="layout='t5' is not one of"):
        SentencePieceTokenizer(albert_proto, layout="t5")


def test_xlm_roberta_pairs_pack_with_a_double_separator(xlm_proto):
    tokenizer = SentencePieceTokenizer(xlm_proto, layout="xlm_roberta")
    packed = MaskedLMPreprocessor(tokenizer, sequence_length=8).pack(
        tokenizer.tokenize(["the fox jumps over"]), tokenizer.tokenize(["lazy dog"]))
    row = packed["token_ids"].numpy()[0].tolist()
    assert row[0] == 0 and row[-1] == 2 and row.count(2) == 3
    assert row[row.index(2) + 1] == 2  # </s></s> between the segments


def test_albert_pairs_pack_with_segment_ids(albert_proto):
    tokenizer = SentencePieceTokenizer(albert_proto, layout="albert")
    packed = MaskedLMPreprocessor(tokenizer, sequence_length=16).pack(
        tokenizer.tokenize(["the fox"]), tokenizer.tokenize(["lazy dog"]))
    first, second = (len(tokenizer.tokenize([t]).to_list()[0]) for t in ["the fox", "lazy dog"])
    assert packed["segment_ids"].numpy()[0].tolist()[: first + second + 3] == (
        [0] * (first + 2) + [1] * (second + 1))


def test_preset_round_trip_keeps_the_ids(xlm_proto, tmp_path):
    tokenizer = SentencePieceTokenizer(xlm_proto, layout="xlm_roberta")
    backbone = XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
                                  num_heads=2, hidden_dim=8, intermediate_dim=16,
                                  max_sequence_length=16)
    MaskedLM(backbone, MaskedLMPreprocessor(tokenizer, sequence_length=16)).save_to_preset(
        str(tmp_path))
    loaded = MaskedLM.from_preset(str(tmp_path)).preprocessor.tokenizer
    assert (loaded.layout, loaded.tokenize(TEXTS).to_list()) == (
        "xlm_roberta", tokenizer.tokenize(TEXTS).to_list())


@pytest.mark.parametrize("file_name, layout", [("spiece.model", "albert"),
                                               ("sentencepiece.bpe.model", "xlm_roberta")])
def test_hugging_face_export_writes_the_sentencepiece_model_and_import_reads_it_back(
        file_name, layout, albert_proto, xlm_proto, tmp_path):
    proto = albert_proto if layout == "albert" else xlm_proto
    tokenizer = SentencePieceTokenizer(proto, layout=layout, lowercase=layout == "albert")
    shape = dict(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
                 hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    backbone = (AlbertBackbone(embedding_dim=8, masked_lm_layer_norm_epsilon=1e-12, **shape)
                if layout == "albert"
                else XLMRobertaBackbone(**shape))
    export_hf(MaskedLM(backbone, MaskedLMPreprocessor(tokenizer, sequence_length=16)),
              str(tmp_path))
    assert (tmp_path / file_name).read_bytes() == proto
    loaded = load_hf(str(tmp_path)).preprocessor.tokenizer
    assert (type(loaded), loaded.layout, loaded.lowercase) == (
        SentencePieceTokenizer, layout, layout == "albert")
    assert loaded.tokenize(TEXTS).to_list() == tokenizer.tokenize(TEXTS).to_list()


def test_tokenizer_runs_inside_a_saved_model(xlm_proto, saved_model_tokenize):
    tokenizer = SentencePieceTokenizer(xlm_proto, layout="xlm_roberta")
    np.testing.assert_array_equal(saved_model_tokenize(tokenizer)(tf.constant(TEXTS)).numpy(),
                                  tokenizer.tokenize(TEXTS).to_tensor(-1).numpy())


def test_albert_layout_refuses_a_model_without_its_special_tokens_naming_the_file(
        xlm_proto, tmp_path):
    path = tmp_path / "spiece.model"
    path.write_bytes(xlm_proto)
    with pytest.raises(ValueError, match=r"spiece.model: the vocabulary lacks special token\(s\)"
                                         r" \{'pad': '<pad>'"):
        SentencePieceTokenizer(str(path), layout="albert")
