"""DistilBERT and FNet backbones, the FNet block and their MaskedLM."""
import keras
import numpy as np
import pytest
from keras import ops

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.distil_bert_backbone import DistilBertBackbone
from cloze.models.backbones.f_net_backbone import FNetBackbone
from cloze.models.layers.activations import gelu_approximate
from cloze.models.layers.f_net_encoder import FNetEncoder
from cloze.models.tasks.masked_lm import MaskedLM

TINY = dict(vocabulary_size=30, num_layers=2, hidden_dim=8, intermediate_dim=16,
            max_sequence_length=12, dropout=0.0)
TOKEN_IDS = np.array([[2, 5, 9, 7, 3, 0, 0], [2, 11, 12, 13, 14, 8, 3]], "int32")
MASK_POSITIONS = np.array([[1, 2], [3, 5]], "int32")


def distil_bert(**overrides):
    return DistilBertBackbone(**{**TINY, "num_heads": 2, **overrides})


def distil_bert_inputs():
    return {"token_ids": TOKEN_IDS, "padding_mask": (TOKEN_IDS != 0).astype("int32")}


def f_net_inputs():
    return {"token_ids": TOKEN_IDS, "segment_ids": (TOKEN_IDS > 10).astype("int32")}


def test_distil_bert_outputs_sequence_states_without_segments():
    backbone = distil_bert()
    outputs = backbone(distil_bert_inputs())
    assert set(outputs) == {"sequence_output"}
    assert tuple(outputs["sequence_output"].shape) == (2, 7, 8)
    assert set(backbone.input) == {"token_ids", "padding_mask"}


def test_distil_bert_padding_changes_nothing_at_real_positions():
    backbone = distil_bert()
    inputs = distil_bert_inputs()
    padded = {k: np.pad(v, ((0, 0), (0, 3))) for k, v in inputs.items()}
    mask = inputs["padding_mask"][..., None].astype(bool)
    short = ops.convert_to_numpy(backbone(inputs)["sequence_output"])
    long = ops.convert_to_numpy(backbone(padded)["sequence_output"])
    np.testing.assert_allclose(long[:, :7] * mask, short * mask, atol=1e-5)


def test_f_net_outputs_sequence_and_pooled_states_without_padding_mask():
    backbone = FNetBackbone(**TINY)
    outputs = backbone(f_net_inputs())
    assert tuple(outputs["sequence_output"].shape) == (2, 7, 8)
    assert tuple(outputs["pooled_output"].shape) == (2, 8)
    assert set(backbone.input) == {"token_ids", "segment_ids"}


def test_f_net_mixes_every_position_into_every_other():
    backbone = FNetBackbone(**TINY)
    inputs = f_net_inputs()
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][1, 6] = 20
    before = ops.convert_to_numpy(backbone(inputs)["sequence_output"])
    after = ops.convert_to_numpy(backbone(changed)["sequence_output"])
    assert not np.allclose(before[1, 0], after[1, 0])
    np.testing.assert_allclose(before[0], after[0], atol=1e-6)


def test_f_net_block_adds_and_normalises_the_fourier_transform():
    x = np.random.default_rng(0).normal(size=(1, 4, 6)).astype("float32")
    block = FNetEncoder(intermediate_dim=8)
    block(x)
    # With a zero feed-forward output the block is LayerNorm(LayerNorm(x + Re(FFT2(x)))).
    block._output_dense.kernel.assign(np.zeros(block._output_dense.kernel.shape, "float32"))
    mixed = x + np.fft.fft2(x).real
    normalised = (mixed - mixed.mean(-1, keepdims=True)) / np.sqrt(mixed.var(-1, keepdims=True)
                                                                   + 1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(block(x)), normalised, atol=1e-3)


@pytest.mark.parametrize("cls, overrides", [
    (DistilBertBackbone, {"num_heads": 2, "masked_lm_layer_norm_epsilon": 1e-12}),
    (FNetBackbone, {"num_segments": 3, "masked_lm_activation": gelu_approximate,
                    "masked_lm_layer_norm_epsilon": 1e-12}),
])
def test_config_round_trips(cls, overrides):
    backbone = cls(**{**TINY, **overrides})
    rebuilt = cls.from_config(backbone.get_config())
    assert rebuilt.get_config() == backbone.get_config()
    assert rebuilt.count_params() == backbone.count_params()
    assert rebuilt.masked_lm_head_config()["layer_norm_epsilon"] == 1e-12


@pytest.mark.parametrize("backbone_fn, inputs_fn", [
    (distil_bert, distil_bert_inputs),
    (lambda: FNetBackbone(**TINY), f_net_inputs),
])
def test_masked_lm_preset_round_trip_gives_identical_outputs(backbone_fn, inputs_fn, tmp_path):
    keras.utils.set_random_seed(0)
    task = MaskedLM(backbone_fn())
    inputs = {**inputs_fn(), "mask_positions": MASK_POSITIONS}
    task.save_to_preset(str(tmp_path))
    restored = MaskedLM.from_preset(str(tmp_path))
    np.testing.assert_array_equal(ops.convert_to_numpy(restored(inputs)),
                                  ops.convert_to_numpy(task(inputs)))
    assert type(Backbone.from_preset(str(tmp_path))) is type(task.backbone)
    assert task.masked_lm_head.token_embedding is task.backbone.token_embedding


@pytest.mark.parametrize("name, cls", [
    ("distil_bert_base_en_uncased", DistilBertBackbone),
    ("f_net_base_en", FNetBackbone),
])
def test_builtin_preset_names_build_these_backbones(name, cls):
    assert name in cls.presets
    small = dict(num_layers=1, hidden_dim=8, intermediate_dim=16, vocabulary_size=30)
    if cls is DistilBertBackbone:
        small["num_heads"] = 2
    assert type(Backbone.from_preset(name, load_weights=False, **small)) is cls
