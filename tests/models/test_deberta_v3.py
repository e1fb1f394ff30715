"""DeBERTaV3: relative-position buckets, padding, Hugging Face head layouts, built-in names,
keras-hub presets both ways.

The shared suites cover the rest for ``DebertaV3Backbone``: Hugging Face logits and
hidden states within 1e-5 and export round trips in ``test_hf_conversion``
(the ``deberta-v2`` golden has 48 tokens and 16 buckets, so it reaches the
logarithmic buckets), training, preset save/load and mixed precision in
``test_architecture_matrix``.
"""
import json
import os
import re
import shutil

import keras
import keras_hub  # a test dependency (pyproject's `test` extra)
import numpy as np
import pytest
from keras import ops
from safetensors.numpy import load_file, save_file

from cloze.models import DebertaV3Backbone, MaskedLM
from cloze.models.convert import ConversionError, export_hf, load_hf
from cloze.models.keras_hub_interop import (load_keras_hub_preset, save_keras_hub_preset,
                                            transfer_weights)
from cloze.models.layers.disentangled_attention import log_bucket_relative_positions

GOLDEN = os.path.join(os.path.dirname(__file__), "hf_goldens", "deberta-v2")
TOLERANCE = 1e-5
# Hugging Face's two names for each tensor of the masked-LM head.
LEGACY_TO_LM_PREDICTIONS = {
    "cls.predictions.transform.dense.weight": "lm_predictions.lm_head.dense.weight",
    "cls.predictions.transform.dense.bias": "lm_predictions.lm_head.dense.bias",
    "cls.predictions.transform.LayerNorm.weight": "lm_predictions.lm_head.LayerNorm.weight",
    "cls.predictions.transform.LayerNorm.bias": "lm_predictions.lm_head.LayerNorm.bias",
    "cls.predictions.bias": "lm_predictions.lm_head.bias",
}
# 20 tokens with 4 buckets (exact up to distance 2), the first row padded at the end.
HUB_CONFIG = dict(vocabulary_size=23, num_layers=2, num_heads=2, hidden_dim=8,
                  intermediate_dim=16, dropout=0.0, max_sequence_length=24, bucket_size=4)
BUILTIN_NAMES = ["deberta_v3_base_en", "deberta_v3_base_multi", "deberta_v3_extra_small_en",
                 "deberta_v3_large_en", "deberta_v3_small_en"]


def golden_logits(task):
    """``task``'s logits at every position of the golden inputs, and the recorded ones."""
    record = np.load(GOLDEN + ".npz")
    batch, length = record["token_ids"].shape
    inputs = {"token_ids": record["token_ids"], "padding_mask": record["padding_mask"],
              "mask_positions": np.tile(np.arange(length, dtype="int32"), (batch, 1))}
    return task(inputs, training=False), record["logits"]


def rewritten_golden(directory, config_changes, rename=None):
    """A copy of the golden with ``config_changes`` applied and tensors renamed by ``rename``."""
    shutil.copytree(GOLDEN, directory, dirs_exist_ok=True)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, **config_changes}))
    if rename:
        tensors = load_file(str(directory / "model.safetensors"))
        save_file({rename.get(name, name): array for name, array in tensors.items()},
                  str(directory / "model.safetensors"))
    return str(directory)


def test_buckets_are_exact_near_odd_and_reach_the_table_end_at_max_position():
    bucket_size, max_position = 16, 64
    buckets = ops.convert_to_numpy(
        log_bucket_relative_positions(max_position, bucket_size, max_position))
    distances = np.arange(max_position)[:, None] - np.arange(max_position)[None, :]
    near = np.abs(distances) <= bucket_size // 2
    np.testing.assert_array_equal(buckets[near], distances[near])
    np.testing.assert_array_equal(buckets, -buckets.T)
    assert (np.diff(buckets[-1]) <= 0).all()  # farther keys never get a nearer bucket
    assert buckets[-1, 0] == bucket_size - 1


def test_real_token_outputs_do_not_depend_on_padding():
    backbone = DebertaV3Backbone(vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=8,
                                 intermediate_dim=16, max_sequence_length=32, bucket_size=8)
    token_ids = np.random.default_rng(0).integers(1, 30, (1, 12)).astype("int32")
    unpadded = backbone({"token_ids": token_ids, "padding_mask": np.ones((1, 12), "int32")})
    padded = backbone({"token_ids": np.pad(token_ids, ((0, 0), (0, 5))),
                       "padding_mask": np.pad(np.ones((1, 12), "int32"), ((0, 0), (0, 5)))})
    np.testing.assert_allclose(padded["sequence_output"][:, :12], unpadded["sequence_output"],
                               atol=TOLERANCE, rtol=0)


def test_lm_predictions_head_layout_loads_with_the_same_logits(tmp_path):
    checkpoint_dir = rewritten_golden(tmp_path, {"legacy": False}, LEGACY_TO_LM_PREDICTIONS)
    logits, expected = golden_logits(load_hf(checkpoint_dir))
    np.testing.assert_allclose(logits, expected, atol=TOLERANCE, rtol=0)


def test_export_writes_the_lm_predictions_head_with_legacy_false(tmp_path):
    export_hf(load_hf(GOLDEN), str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    names = set(load_file(str(tmp_path / "model.safetensors")))
    assert config["legacy"] is False
    assert set(LEGACY_TO_LM_PREDICTIONS.values()) <= names
    assert not any(name.startswith("cls.") for name in names)


@pytest.mark.parametrize("field, value", [("position_biased_input", True),
                                          ("share_att_key", False),
                                          ("pos_att_type", ["c2p"]),
                                          ("max_relative_positions", 32)])
def test_deberta_variant_cloze_cannot_hold_is_refused_by_name(tmp_path, field, value):
    with pytest.raises(ConversionError, match=re.escape(f"config.json: {field}={value!r}")):
        load_hf(rewritten_golden(tmp_path, {field: value}))


def test_builtin_names_are_the_five_deberta_v3_presets():
    assert DebertaV3Backbone.presets == BUILTIN_NAMES


def test_builtin_name_builds_keras_hubs_architecture_without_weights():
    task = MaskedLM.from_preset("deberta_v3_extra_small_en", load_weights=False)
    assert type(task.backbone) is DebertaV3Backbone
    # keras_hub.models.DebertaV3Backbone with this preset's config has exactly as many.
    assert task.backbone.count_params() == 70_682_112


def hub_inputs():
    rng = np.random.default_rng(0)
    padding_mask = np.ones((2, 20), "int32")
    padding_mask[0, 17:] = 0
    return {"token_ids": rng.integers(3, 23, (2, 20)).astype("int32"),
            "padding_mask": padding_mask,
            "mask_positions": np.array([[1, 9, 16], [0, 10, 19]], "int32")}


@pytest.fixture(scope="module")
def hub_task():
    """A keras-hub ``DebertaV3MaskedLM`` with a distinct random value in every weight."""
    keras.utils.set_random_seed(0)
    task = keras_hub.models.DebertaV3MaskedLM(keras_hub.models.DebertaV3Backbone(**HUB_CONFIG),
                                              preprocessor=None)
    rng = np.random.default_rng(1)
    for weight in task.weights:
        weight.assign(rng.normal(0.0, 0.3, tuple(weight.shape)).astype("float32"))
    return task


def test_keras_hub_preset_loads_with_keras_hubs_outputs(hub_task, tmp_path):
    # keras-hub's own writers; its save_to_preset wants a preprocessor.
    hub_task.backbone.save_to_preset(str(tmp_path))
    hub_task.save_task_weights(str(tmp_path / "task.weights.h5"))
    (tmp_path / "task.json").write_text(json.dumps(keras.saving.serialize_keras_object(hub_task)))
    task = load_keras_hub_preset(str(tmp_path))
    x = hub_inputs()
    np.testing.assert_allclose(task(x), hub_task(x), atol=TOLERANCE, rtol=0)
    backbone_inputs = {name: x[name] for name in ("token_ids", "padding_mask")}
    real = x["padding_mask"] == 1  # keras-hub lets padded positions attend, Hugging Face not
    np.testing.assert_allclose(
        np.asarray(task.backbone(backbone_inputs)["sequence_output"])[real],
        np.asarray(hub_task.backbone(backbone_inputs))[real], atol=TOLERANCE, rtol=0)


def test_cloze_task_saved_for_keras_hub_loads_there_with_the_same_logits(hub_task, tmp_path):
    task = MaskedLM(DebertaV3Backbone(**HUB_CONFIG))
    transfer_weights(hub_task, task)
    save_keras_hub_preset(task, str(tmp_path))
    loaded = keras_hub.models.MaskedLM.from_preset(str(tmp_path), preprocessor=None)
    assert type(loaded) is keras_hub.models.DebertaV3MaskedLM
    np.testing.assert_allclose(loaded(hub_inputs()), hub_task(hub_inputs()), atol=TOLERANCE,
                               rtol=0)
