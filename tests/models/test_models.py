"""Layers, backbone, head, task, tokenizer and presets."""
import os

import keras
import numpy as np
import pytest

from cloze.models import (Backbone, BertBackbone, MaskedLM, MaskedLMHead, MaskedLMPreprocessor,
                          WordPieceTokenizer)
from cloze.models.presets import PresetError


def model_inputs(batch=2, length=8, vocab=15, masks=3, seed=0):
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, length), "int32")
    padding[0, length - 2:] = 0
    return {
        "token_ids": rng.integers(5, vocab, (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": padding,
        "mask_positions": rng.integers(1, length - 2, (batch, masks)).astype("int32"),
    }


def test_backbone_outputs_sequence_and_pooled_states():
    backbone = BertBackbone(vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=8,
                            intermediate_dim=16, max_sequence_length=12)
    inputs = model_inputs(vocab=30)
    inputs.pop("mask_positions")
    outputs = backbone(inputs)
    assert tuple(outputs["sequence_output"].shape) == (2, 8, 8)
    assert tuple(outputs["pooled_output"].shape) == (2, 8)


def test_backbone_config_round_trips():
    backbone = BertBackbone(vocabulary_size=30, num_layers=3, num_heads=2, hidden_dim=8,
                            intermediate_dim=16, dropout=0.2, max_sequence_length=12,
                            num_segments=3)
    rebuilt = BertBackbone.from_config(backbone.get_config())
    assert rebuilt.get_config() == backbone.get_config()
    assert rebuilt.count_params() == backbone.count_params()


def test_padding_changes_nothing_at_real_positions(tiny_task):
    inputs = model_inputs()
    inputs.pop("mask_positions")
    padded = {k: np.pad(v, ((0, 0), (0, 4))) for k, v in inputs.items()}
    short = tiny_task.backbone(inputs)["sequence_output"].numpy()
    long = tiny_task.backbone(padded)["sequence_output"].numpy()
    np.testing.assert_allclose(long[:, :8], short, atol=1e-5)


def test_head_is_tied_to_token_embedding(tiny_task):
    inputs = model_inputs()
    before = tiny_task(inputs).numpy()
    embedding = tiny_task.backbone.token_embedding.embeddings
    embedding.assign(embedding.numpy() * 2.0)
    assert tiny_task.masked_lm_head.token_embedding is tiny_task.backbone.token_embedding
    assert not np.allclose(before, tiny_task(inputs).numpy())


def test_head_scores_only_masked_positions():
    head = MaskedLMHead(vocabulary_size=11, activation="softmax")
    hidden = np.random.rand(2, 20, 6).astype("float32")
    probabilities = head(hidden, mask_positions=np.array([[0, 5, 19], [1, 1, 2]])).numpy()
    assert probabilities.shape == (2, 3, 11)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities[1, 0], probabilities[1, 1], atol=1e-6)


def test_head_rejects_mismatched_vocabulary_size(tiny_task):
    with pytest.raises(ValueError, match="does not match"):
        MaskedLMHead(vocabulary_size=3, token_embedding=tiny_task.backbone.token_embedding)


def test_masked_lm_loss_falls_when_fitting(tiny_task):
    inputs = model_inputs(batch=8, masks=2)
    labels = (inputs["token_ids"][np.arange(8)[:, None], inputs["mask_positions"]])
    tiny_task.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = tiny_task.fit(inputs, labels, sample_weight=np.ones((8, 2), "float32"),
                            epochs=15, batch_size=8, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert "accuracy" in history


def test_auto_compile_excludes_norms_and_biases_from_weight_decay(tiny_task):
    tiny_task.compile()
    optimizer = tiny_task.optimizer
    decayed = {v.path for v in tiny_task.trainable_variables if optimizer._use_weight_decay(v)}
    assert any(p.endswith("kernel") for p in decayed)
    assert not any(p.endswith(("gamma", "beta", "bias")) for p in decayed)


def test_preset_round_trip_gives_identical_outputs(tiny_task, tmp_path):
    inputs = model_inputs()
    tiny_task.save_to_preset(str(tmp_path))
    for name in ("config.json", "model.weights.h5", "task.json", "metadata.json",
                 "tokenizer.json", "preprocessor.json", "assets/tokenizer/vocabulary.txt"):
        assert os.path.exists(tmp_path / name), name
    restored = MaskedLM.from_preset(str(tmp_path))
    np.testing.assert_array_equal(restored(inputs).numpy(), tiny_task(inputs).numpy())
    assert restored.preprocessor.tokenizer.vocabulary == tiny_task.preprocessor.tokenizer.vocabulary


def test_backbone_from_preset_returns_the_saved_subclass(tiny_task, tmp_path):
    tiny_task.backbone.save_to_preset(str(tmp_path))
    assert type(Backbone.from_preset(str(tmp_path))) is BertBackbone


def test_from_preset_on_missing_directory_names_it(tmp_path):
    with pytest.raises(PresetError, match="nowhere"):
        MaskedLM.from_preset(str(tmp_path / "nowhere"))


def test_tokenizer_splits_wordpieces_and_marks_unknown(tiny_vocab):
    tokenizer = WordPieceTokenizer(tiny_vocab)
    ids = tokenizer.tokenize(["The cats sat.", "zebra"]).to_list()
    assert [tokenizer.id_to_token(i) for i in ids[0]] == ["the", "cat", "##s", "sat", "."]
    assert ids[1] == [tokenizer.token_to_id("[UNK]")]


def test_tokenizer_requires_special_tokens():
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the"])


def test_preprocessor_keeps_literal_mask_tokens(tiny_vocab):
    preprocessor = MaskedLMPreprocessor(WordPieceTokenizer(tiny_vocab), sequence_length=10)
    tokenizer = preprocessor.tokenizer
    x = preprocessor.encode_masked_text(["the [MASK] sat on [MASK] mat"], num_masks=3)
    tokens = [tokenizer.id_to_token(i) for i in x["token_ids"].numpy()[0]]
    assert tokens == ["[CLS]", "the", "[MASK]", "sat", "on", "[MASK]", "mat", "[SEP]",
                      "[PAD]", "[PAD]"]
    assert x["mask_positions"].numpy().tolist() == [[2, 5, 0]]
    assert x["mask_weights"].numpy().tolist() == [[1, 1, 0]]
    assert x["padding_mask"].numpy().tolist() == [[1] * 8 + [0, 0]]


def test_preprocessor_truncates_to_sequence_length(tiny_vocab):
    preprocessor = MaskedLMPreprocessor(WordPieceTokenizer(tiny_vocab), sequence_length=6)
    x = preprocessor.encode_masked_text(["the cat sat on the mat [MASK]"], num_masks=2)
    assert x["token_ids"].shape == (1, 6)
    assert x["mask_weights"].numpy().tolist() == [[0, 0]]


def test_fill_mask_returns_top_k_per_mask(tiny_task):
    fills = tiny_task.fill_mask(["the [MASK] sat", "a [MASK] ran on the [MASK]"], top_k=4)
    assert [len(masks) for masks in fills] == [1, 2]
    scores = [score for _, score in fills[1][1]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    assert all(token in tiny_task.preprocessor.tokenizer.vocabulary for token, _ in fills[0][0])


def test_every_builtin_name_is_listed_and_bert_ones_build_without_weights():
    from cloze.models.builtin_presets import BUILTIN_PRESETS

    assert MaskedLM.presets == sorted(BUILTIN_PRESETS)
    assert "bert_tiny_en_uncased" in BertBackbone.presets
    assert all(name.startswith("bert_") for name in BertBackbone.presets)
    task = MaskedLM.from_preset("bert_tiny_en_uncased", load_weights=False)
    assert task.backbone.num_layers == 2 and task.backbone.vocabulary_size == 30522
    assert type(Backbone.from_preset("bert_tiny_en_uncased", load_weights=False)) is BertBackbone


def test_builtin_name_with_weights_explains_how_to_supply_them():
    with pytest.raises(PresetError, match="ships no weights.*cloze convert"):
        MaskedLM.from_preset("bert_tiny_en_uncased")


def test_kaggle_handles_are_refused_offline():
    with pytest.raises(PresetError, match="Kaggle.*offline"):
        Backbone.from_preset("kaggle://keras/bert/keras/bert_tiny_en_uncased")


def test_hf_handles_resolve_from_the_local_cache(tmp_path, monkeypatch, tiny_task):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(PresetError, match="not in the local Hugging Face cache"):
        MaskedLM.from_preset("hf://org/tiny")
    snapshot = tmp_path / "models--org--tiny" / "snapshots" / "abc123"
    tiny_task.save_to_preset(str(snapshot))
    (tmp_path / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "models--org--tiny" / "refs" / "main").write_text("abc123")
    assert MaskedLM.from_preset("hf://org/tiny").count_params() == tiny_task.count_params()
