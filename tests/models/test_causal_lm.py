"""CausalLM: next-token prediction over a decoder RoBERTa-PreLN, and Hugging Face parity."""
import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from cloze.models import CausalLM, RobertaPreLNBackbone
from cloze.models.convert import export_hf, load_hf
from cloze.models.tasks.causal_lm import next_token_targets
from cloze.pipeline.cli import main

GOLDEN = os.path.join(os.path.dirname(__file__), "hf_goldens", "roberta-prelayernorm-causal")
PAD = 1
SIZES = dict(vocabulary_size=20, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
             max_sequence_length=16, dropout=0.0)


def decoder(**overrides):
    keras.utils.set_random_seed(0)
    return RobertaPreLNBackbone(**{**SIZES, "is_decoder": True, **overrides})


def inputs():
    """Two right-padded sequences: ``<s> ... </s>`` then pad id 1."""
    token_ids = np.array([[0, 5, 9, 7, 2, PAD, PAD], [0, 11, 12, 13, 14, 8, 2]], "int32")
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
            "padding_mask": (token_ids != PAD).astype("int32")}


def logits(model, x):
    return ops.convert_to_numpy(model(x, training=False))


def test_logits_at_a_position_ignore_later_tokens():
    model = CausalLM(decoder())
    x = inputs()
    before = logits(model, x)
    for t in range(1, 7):
        changed = {k: v.copy() for k, v in x.items()}
        changed["token_ids"][1, t] = 17
        after = logits(model, changed)
        np.testing.assert_allclose(after[1, :t], before[1, :t], atol=1e-5)
        assert not np.allclose(after[1, t], before[1, t])


def test_encoder_backbone_is_refused_with_the_field_to_set():
    with pytest.raises(ValueError, match="is_decoder=True.*has is_decoder=False"):
        CausalLM(RobertaPreLNBackbone(**SIZES))


def test_targets_are_the_next_tokens_weighted_only_between_real_tokens():
    _, labels, weights = next_token_targets(inputs())
    assert ops.convert_to_numpy(labels).tolist() == [[5, 9, 7, 2, PAD, PAD, 0],
                                                     [11, 12, 13, 14, 8, 2, 0]]
    assert ops.convert_to_numpy(weights).tolist() == [[1, 1, 1, 1, 0, 0, 0],
                                                      [1, 1, 1, 1, 1, 1, 0]]


def test_training_on_a_repeated_sequence_reduces_the_loss():
    model = CausalLM(decoder(num_layers=1))
    # Ten eager steps: tracing a train function would cost more than the steps.
    model.compile(optimizer=keras.optimizers.Adam(0.03), run_eagerly=True)
    token_ids = np.tile(np.array([[0, 5, 6, 7, 8, 5, 6, 7, 8, 2]], "int32"), (40, 1))
    x = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
         "padding_mask": np.ones_like(token_ids)}
    x, y, weights = next_token_targets(x)
    before = model.evaluate(x, y, sample_weight=weights, batch_size=40, verbose=0)[0]
    model.fit(x, y, sample_weight=weights, batch_size=4, verbose=0)
    after = model.evaluate(x, y, sample_weight=weights, batch_size=40, verbose=0)[0]
    assert after < 0.5 * before


def test_generate_appends_the_most_likely_next_token():
    model = CausalLM(decoder())
    prompt = np.array([[0, 5, 9]], "int32")
    generated = model.generate(prompt, max_length=5)
    assert generated.shape == (1, 5)
    np.testing.assert_array_equal(generated[:, :3], prompt)
    x = {"token_ids": generated[:, :3], "segment_ids": np.zeros((1, 3), "int32"),
         "padding_mask": np.ones((1, 3), "int32")}
    assert generated[0, 3] == logits(model, x)[0, -1].argmax()


def test_preset_round_trip_gives_identical_logits(tmp_path):
    model = CausalLM(decoder(position_embedding_type="relative_key_query"))
    model.save_to_preset(str(tmp_path))
    restored = CausalLM.from_preset(str(tmp_path))
    assert type(restored) is CausalLM
    np.testing.assert_array_equal(logits(restored, inputs()), logits(model, inputs()))


def test_logits_match_hugging_faces_causal_lm():
    record = dict(np.load(GOLDEN + ".npz"))
    model = load_hf(GOLDEN)
    assert type(model) is CausalLM
    x = {name: record[name] for name in model.backbone.input}
    np.testing.assert_allclose(logits(model, x), record["logits"], atol=1e-4, rtol=0)


def test_hugging_face_export_is_a_causal_lm_with_the_same_logits(tmp_path):
    model = load_hf(GOLDEN)
    export_hf(model, str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["RobertaPreLayerNormForCausalLM"]
    assert config["is_decoder"] is True
    record = dict(np.load(GOLDEN + ".npz"))
    x = {name: record[name] for name in model.backbone.input}
    np.testing.assert_array_equal(logits(load_hf(str(tmp_path)), x), logits(model, x))



def test_cli_exports_a_causal_lm_preset_as_a_hugging_face_causal_lm(tmp_path):
    model = CausalLM(decoder())
    model.save_to_preset(str(tmp_path / "preset"))
    assert main(["convert", str(tmp_path / "preset"), str(tmp_path / "hf"), "--to", "hf"]) == 0
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["RobertaPreLayerNormForCausalLM"]
    np.testing.assert_array_equal(logits(load_hf(str(tmp_path / "hf")), inputs()),
                                  logits(model, inputs()))
