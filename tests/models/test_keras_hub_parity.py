"""Cloze's BERT and ALBERT compute exactly what keras-hub's do, and presets cross over."""
import json
import os

import keras
import keras_hub  # a test dependency (pyproject's `test` extra)
import numpy as np
import pytest

from cloze.models import BertBackbone, MaskedLM
from cloze.models.backbones.albert_backbone import AlbertBackbone
from cloze.models.keras_hub_interop import (load_keras_hub_preset, save_keras_hub_preset,
                                            transfer_weights)

VOCAB = 23
# Both libraries run the same ops in the same order, so outputs agree to float32
# rounding; swapping either GELU or the head's epsilon moves logits by over 1e-5.
ATOL = 1e-6
BERT_CONFIG = dict(vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=8,
                   intermediate_dim=16, dropout=0.0, max_sequence_length=12)
ALBERT_CONFIG = dict(vocabulary_size=VOCAB, num_layers=4, num_heads=2, embedding_dim=4,
                     hidden_dim=8, intermediate_dim=16, num_groups=2, num_inner_repetitions=2,
                     max_sequence_length=12)
PAIRS = {
    "bert": (keras_hub.models.BertBackbone, keras_hub.models.BertMaskedLM, BertBackbone,
             BERT_CONFIG),
    "albert": (keras_hub.models.AlbertBackbone, keras_hub.models.AlbertMaskedLM, AlbertBackbone,
               ALBERT_CONFIG),
}


def inputs(batch=2, length=10, masks=3, seed=0):
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, length), "int32")
    padding[0, length - 3:] = 0
    return {
        "token_ids": rng.integers(0, VOCAB, (batch, length)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (batch, length)).astype("int32"),
        "padding_mask": padding,
        "mask_positions": rng.integers(0, length, (batch, masks)).astype("int32"),
    }


def randomize(model, seed=1):
    """Gives every weight (biases and layer norms included) a distinct random value."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.3, tuple(weight.shape)).astype("float32"))


@pytest.fixture(params=sorted(PAIRS))
def twin_tasks(request):
    """A random keras-hub masked LM and the Cloze masked LM holding the same weights."""
    hub_backbone_cls, hub_task_cls, cloze_backbone_cls, config = PAIRS[request.param]
    keras.utils.set_random_seed(0)
    hub = hub_task_cls(hub_backbone_cls(**config), preprocessor=None)
    randomize(hub)
    cloze = MaskedLM(cloze_backbone_cls(**config))
    transfer_weights(hub, cloze)
    return hub, cloze


def test_backbone_outputs_match_keras_hub(twin_tasks):
    hub, cloze = twin_tasks
    x = inputs()
    x.pop("mask_positions")
    expected, actual = hub.backbone(x), cloze.backbone(x)
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(actual[name].numpy(), expected[name].numpy(), atol=ATOL,
                                   err_msg=name)


def test_masked_lm_logits_match_keras_hub(twin_tasks):
    hub, cloze = twin_tasks
    x = inputs()
    np.testing.assert_allclose(cloze(x).numpy(), hub(x).numpy(), atol=ATOL)


def test_transfer_names_unpaired_paths():
    hub = keras_hub.models.BertBackbone(**BERT_CONFIG)
    cloze = BertBackbone(**{**BERT_CONFIG, "num_layers": 1})
    with pytest.raises(ValueError, match="transformer_layer_1/"):
        transfer_weights(hub, cloze)


def test_transfer_names_mismatched_shapes():
    hub = keras_hub.models.BertBackbone(**BERT_CONFIG)
    cloze = BertBackbone(**{**BERT_CONFIG, "vocabulary_size": VOCAB + 1})
    with pytest.raises(ValueError, match=r"token_embedding/embeddings: source \(23, 8\)"):
        transfer_weights(hub, cloze)


def assert_same_outputs(a, b):
    """Same logits and same backbone outputs from two masked LMs."""
    x = inputs()
    np.testing.assert_allclose(a(x).numpy(), b(x).numpy(), atol=ATOL)
    x.pop("mask_positions")
    for name, value in a.backbone(x).items():
        np.testing.assert_allclose(value.numpy(), b.backbone(x)[name].numpy(), atol=ATOL,
                                   err_msg=name)


def save_hub_task_without_preprocessor(hub, preset_dir):
    """keras-hub's own writers for each file; its save_to_preset needs a preprocessor,
    and ALBERT's needs a SentencePiece model."""
    hub.backbone.save_to_preset(preset_dir)
    hub.save_task_weights(os.path.join(preset_dir, "task.weights.h5"))
    with open(os.path.join(preset_dir, "task.json"), "w") as f:
        json.dump(keras.saving.serialize_keras_object(hub), f)


def test_keras_hub_task_preset_loads_in_cloze(twin_tasks, tmp_path):
    hub, _ = twin_tasks
    save_hub_task_without_preprocessor(hub, str(tmp_path))
    cloze = load_keras_hub_preset(str(tmp_path))
    assert isinstance(cloze, MaskedLM)
    assert_same_outputs(cloze, hub)


def test_keras_hub_bert_save_to_preset_loads_in_cloze(tiny_vocab, tmp_path):
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=tiny_vocab)
    hub = keras_hub.models.BertMaskedLM(
        keras_hub.models.BertBackbone(**{**BERT_CONFIG, "vocabulary_size": len(tiny_vocab)}),
        preprocessor=keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=12))
    randomize(hub)
    hub.save_to_preset(str(tmp_path))
    cloze = load_keras_hub_preset(str(tmp_path))
    x = inputs()
    x["token_ids"] %= len(tiny_vocab)
    np.testing.assert_allclose(cloze(x).numpy(), hub(x).numpy(), atol=ATOL)


# keras-hub compiles its tasks when it builds them; a task file Cloze writes has no
# optimizer state to restore.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_cloze_task_preset_loads_in_keras_hub(twin_tasks, tmp_path):
    hub, cloze = twin_tasks
    save_keras_hub_preset(cloze, str(tmp_path))
    restored = type(hub).from_preset(str(tmp_path), preprocessor=None)
    assert_same_outputs(restored, cloze)


def test_cloze_backbone_preset_round_trips_through_keras_hub(twin_tasks, tmp_path):
    hub, cloze = twin_tasks
    save_keras_hub_preset(cloze.backbone, str(tmp_path / "cloze"))
    keras_hub.models.Backbone.from_preset(str(tmp_path / "cloze")).save_to_preset(
        str(tmp_path / "hub"))
    restored = load_keras_hub_preset(str(tmp_path / "hub"))
    assert type(restored) is type(cloze.backbone)
    x = inputs()
    x.pop("mask_positions")
    np.testing.assert_allclose(restored(x)["sequence_output"].numpy(),
                               cloze.backbone(x)["sequence_output"].numpy(), atol=ATOL)


def test_cloze_numerics_keras_hub_lacks_are_refused(tmp_path):
    backbone = BertBackbone(**BERT_CONFIG, masked_lm_layer_norm_epsilon=1e-12)
    with pytest.raises(ValueError, match="masked_lm_layer_norm_epsilon=1e-12"):
        save_keras_hub_preset(backbone, str(tmp_path))


def test_bert_configs_saved_before_the_keras_hub_defaults_keep_exact_gelu():
    config = BertBackbone(**BERT_CONFIG).get_config()
    del config["activation"], config["masked_lm_layer_norm_epsilon"]
    legacy = BertBackbone.from_config(config)
    assert keras.activations.serialize(legacy.activation) == "gelu"
    assert legacy.masked_lm_layer_norm_epsilon == 1e-12
