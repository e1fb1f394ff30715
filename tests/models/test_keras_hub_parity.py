"""Cloze's keras-hub architectures compute exactly what keras-hub's do, and presets cross over.

BERT, ALBERT, RoBERTa, XLM-RoBERTa, DistilBERT and FNet, each with its masked LM.
"""
import json
import os

import keras
import keras_hub  # a test dependency (pyproject's `test` extra)
import numpy as np
import pytest

from cloze.models import (BertBackbone, DistilBertBackbone, FNetBackbone, MaskedLM,
                          RobertaBackbone, XLMRobertaBackbone)
from cloze.models.backbones.albert_backbone import AlbertBackbone
from cloze.models.keras_hub_interop import (load_keras_hub_preset, save_keras_hub_preset,
                                            transfer_weights)

VOCAB = 23
# RoBERTa's pad id, which keras-hub's RoBERTa and XLM-RoBERTa tokenizers pad with.
PAD = 1
# Both libraries run the same ops in the same order, so outputs agree to float32
# rounding; swapping either GELU or the head's epsilon moves logits by over 1e-5.
ATOL = 1e-6
BERT_CONFIG = dict(vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=8,
                   intermediate_dim=16, dropout=0.0, max_sequence_length=12)
ALBERT_CONFIG = dict(vocabulary_size=VOCAB, num_layers=4, num_heads=2, embedding_dim=4,
                     hidden_dim=8, intermediate_dim=16, num_groups=2, num_inner_repetitions=2,
                     max_sequence_length=12)
F_NET_CONFIG = {k: v for k, v in BERT_CONFIG.items() if k != "num_heads"}
# name -> (keras-hub backbone, keras-hub masked LM, Cloze backbone, config, whether only
# real tokens agree: RoBERTa numbers pads apart from keras-hub's sequential positions).
PAIRS = {
    "bert": (keras_hub.models.BertBackbone, keras_hub.models.BertMaskedLM, BertBackbone,
             BERT_CONFIG, False),
    "albert": (keras_hub.models.AlbertBackbone, keras_hub.models.AlbertMaskedLM, AlbertBackbone,
               ALBERT_CONFIG, False),
    "roberta": (keras_hub.models.RobertaBackbone, keras_hub.models.RobertaMaskedLM,
                RobertaBackbone, BERT_CONFIG, True),
    "xlm_roberta": (keras_hub.models.XLMRobertaBackbone, keras_hub.models.XLMRobertaMaskedLM,
                    XLMRobertaBackbone, BERT_CONFIG, True),
    "distil_bert": (keras_hub.models.DistilBertBackbone, keras_hub.models.DistilBertMaskedLM,
                    DistilBertBackbone, BERT_CONFIG, False),
    "f_net": (keras_hub.models.FNetBackbone, keras_hub.models.FNetMaskedLM, FNetBackbone,
              F_NET_CONFIG, False),
}


def inputs(batch=2, length=10, masks=3, seed=0):
    """Token ids above the special ids, the first row padded at the end with ``PAD``;
    masks only at real tokens."""
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, length), "int32")
    padding[0, length - 3:] = 0
    token_ids = rng.integers(3, VOCAB, (batch, length)).astype("int32")
    token_ids[padding == 0] = PAD
    return {
        "token_ids": token_ids,
        "segment_ids": rng.integers(0, 2, (batch, length)).astype("int32"),
        "padding_mask": padding,
        "mask_positions": rng.integers(0, length - 3, (batch, masks)).astype("int32"),
    }


def model_inputs(model, x):
    """The entries of ``x`` that ``model`` (a backbone or a masked LM) takes."""
    return {name: x[name] for name in model.input}


def randomize(model, seed=1):
    """Gives every weight (biases and layer norms included) a distinct random value."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.3, tuple(weight.shape)).astype("float32"))


def save_hub_task_without_preprocessor(hub, preset_dir):
    """keras-hub's own writers for each file; its save_to_preset needs a preprocessor,
    and ALBERT's needs a SentencePiece model."""
    hub.backbone.save_to_preset(preset_dir)
    hub.save_task_weights(os.path.join(preset_dir, "task.weights.h5"))
    with open(os.path.join(preset_dir, "task.json"), "w") as f:
        json.dump(keras.saving.serialize_keras_object(hub), f)


@pytest.fixture(scope="module", params=sorted(PAIRS))
def twin_tasks(request, tmp_path_factory):
    """A random keras-hub masked LM, the Cloze masked LM loaded from its preset, and
    whether only real tokens agree."""
    hub_backbone_cls, hub_task_cls, _, config, real_tokens_only = PAIRS[request.param]
    keras.utils.set_random_seed(0)
    hub = hub_task_cls(hub_backbone_cls(**config), preprocessor=None)
    randomize(hub)
    preset = str(tmp_path_factory.mktemp(request.param))
    save_hub_task_without_preprocessor(hub, preset)
    cloze = load_keras_hub_preset(preset)
    assert isinstance(cloze, MaskedLM)
    assert type(cloze.backbone) is PAIRS[request.param][2]
    return hub, cloze, real_tokens_only


def backbone_outputs(backbone, x):
    """The backbone's outputs by name; keras-hub's RoBERTa-family backbones return only
    the sequence output."""
    outputs = backbone(model_inputs(backbone, x))
    return outputs if isinstance(outputs, dict) else {"sequence_output": outputs}


def assert_same_backbone_outputs(a, b, real_tokens_only):
    """Same outputs from two backbones; with ``real_tokens_only``, at the unpadded tokens."""
    x = inputs()
    weight = x["padding_mask"][..., None] if real_tokens_only else 1
    expected = backbone_outputs(a, x)
    assert set(expected) == set(backbone_outputs(b, x))
    for name, actual in backbone_outputs(b, x).items():
        np.testing.assert_allclose(np.asarray(actual) * weight,
                                   np.asarray(expected[name]) * weight, atol=ATOL,
                                   err_msg=name)


def assert_same_logits(a, b):
    x = inputs()
    np.testing.assert_allclose(np.asarray(a(model_inputs(a, x))),
                               np.asarray(b(model_inputs(b, x))), atol=ATOL)


def test_backbone_outputs_match_keras_hub(twin_tasks):
    hub, cloze, real_tokens_only = twin_tasks
    assert_same_backbone_outputs(hub.backbone, cloze.backbone, real_tokens_only)


def test_masked_lm_logits_match_keras_hub(twin_tasks):
    hub, cloze, _ = twin_tasks
    assert_same_logits(hub, cloze)


def test_transfer_pairs_keras_hub_bert_weights_by_path():
    keras.utils.set_random_seed(0)
    hub = keras_hub.models.BertMaskedLM(keras_hub.models.BertBackbone(**BERT_CONFIG),
                                        preprocessor=None)
    randomize(hub)
    cloze = MaskedLM(BertBackbone(**BERT_CONFIG))
    transfer_weights(hub, cloze)
    assert_same_logits(hub, cloze)


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
    hub, cloze, real_tokens_only = twin_tasks
    save_keras_hub_preset(cloze, str(tmp_path))
    restored = type(hub).from_preset(str(tmp_path), preprocessor=None)
    assert_same_logits(restored, cloze)
    assert_same_backbone_outputs(restored.backbone, cloze.backbone, real_tokens_only)


def test_cloze_backbone_preset_round_trips_through_keras_hub(twin_tasks, tmp_path):
    _, cloze, real_tokens_only = twin_tasks
    save_keras_hub_preset(cloze.backbone, str(tmp_path / "cloze"))
    keras_hub.models.Backbone.from_preset(str(tmp_path / "cloze")).save_to_preset(
        str(tmp_path / "hub"))
    restored = load_keras_hub_preset(str(tmp_path / "hub"))
    assert type(restored) is type(cloze.backbone)
    assert_same_backbone_outputs(restored, cloze.backbone, real_tokens_only)


@pytest.mark.parametrize("backbone_cls, config, message", [
    (BertBackbone, {**BERT_CONFIG, "masked_lm_layer_norm_epsilon": 1e-12},
     "masked_lm_layer_norm_epsilon=1e-12"),
    (RobertaBackbone, {**BERT_CONFIG, "pad_token_id": 0}, "pad_token_id=0.*fixes pad_token_id=1"),
    (FNetBackbone, {**F_NET_CONFIG, "masked_lm_activation": "relu"},
     "masked_lm_activation='relu'"),
])
def test_cloze_numerics_keras_hub_lacks_are_refused(backbone_cls, config, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        save_keras_hub_preset(backbone_cls(**config), str(tmp_path))


def test_bert_configs_saved_before_the_keras_hub_defaults_keep_exact_gelu():
    config = BertBackbone(**BERT_CONFIG).get_config()
    del config["activation"], config["masked_lm_layer_norm_epsilon"]
    legacy = BertBackbone.from_config(config)
    assert keras.activations.serialize(legacy.activation) == "gelu"
    assert legacy.masked_lm_layer_norm_epsilon == 1e-12
