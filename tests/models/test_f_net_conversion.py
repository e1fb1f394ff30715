"""FNet's Hugging Face conversion: what it maps and what it refuses.

Logit and sequence-output parity with the ``hf_goldens/fnet`` checkpoint, and the
export round trip, run in ``test_hf_conversion`` with every other converter.
"""
import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from cloze.models import FNetBackbone, MaskedLM
from cloze.models.convert import ConversionError, export_hf, load_hf
from cloze.models.layers.activations import gelu_approximate

GOLDEN = os.path.join(os.path.dirname(__file__), "hf_goldens", "fnet")
TINY = dict(vocabulary_size=30, num_layers=1, hidden_dim=8, intermediate_dim=16,
            max_sequence_length=12)


def test_checkpoint_loads_with_hugging_faces_head_numerics_and_pooler():
    backbone = load_hf(GOLDEN).backbone
    assert backbone.masked_lm_activation is gelu_approximate
    assert backbone.masked_lm_layer_norm_epsilon == 1e-12
    assert backbone.num_segments == 4
    pooler = load_file(os.path.join(GOLDEN, "model.safetensors"))["fnet.pooler.dense.weight"]
    np.testing.assert_array_equal(backbone.get_layer("pooled_dense").kernel.numpy(), pooler.T)


def test_export_writes_fnet_config_fields(tmp_path):
    backbone = FNetBackbone(**TINY, masked_lm_activation=gelu_approximate,
                            masked_lm_layer_norm_epsilon=1e-12)
    export_hf(MaskedLM(backbone), str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert {k: config[k] for k in ("model_type", "architectures", "hidden_act", "layer_norm_eps",
                                   "type_vocab_size", "max_position_embeddings")} == {
        "model_type": "fnet", "architectures": ["FNetForMaskedLM"], "hidden_act": "gelu_new",
        "layer_norm_eps": 1e-12, "type_vocab_size": 4, "max_position_embeddings": 12}
    assert "num_attention_heads" not in config


def test_export_refuses_keras_hubs_exact_gelu_head(tmp_path):
    with pytest.raises(ConversionError, match="masked_lm_activation.*gelu_approximate"):
        export_hf(MaskedLM(FNetBackbone(**TINY)), str(tmp_path))


@pytest.mark.parametrize("field, value, message", [
    ("hidden_act", "gelu", r"hidden_act='gelu'.*\['gelu_new'\]"),
    ("layer_norm_eps", 1e-5, "layer_norm_eps=1e-05"),
])
def test_config_value_cloze_cannot_hold_is_named(field, value, message, tmp_path):
    shutil.copytree(GOLDEN, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(ConversionError, match=message):
        load_hf(str(tmp_path))
