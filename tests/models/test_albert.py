"""AlbertBackbone: factorized embeddings, encoder blocks shared within groups."""
import keras
import numpy as np
import pytest

from cloze.models import Backbone, MaskedLM
from cloze.models.backbones.albert_backbone import AlbertBackbone

VOCAB = 17


def albert(**overrides):
    config = dict(vocabulary_size=VOCAB, num_layers=4, num_heads=2, embedding_dim=4,
                  hidden_dim=8, intermediate_dim=16, num_groups=2, num_inner_repetitions=1,
                  max_sequence_length=12)
    return AlbertBackbone(**{**config, **overrides})


def backbone_inputs(batch=2, length=8, seed=0):
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, length), "int32")
    padding[0, length - 2:] = 0
    return {"token_ids": rng.integers(5, VOCAB, (batch, length)).astype("int32"),
            "segment_ids": np.zeros((batch, length), "int32"),
            "padding_mask": padding}


def task_inputs(batch=2, length=8, masks=2, seed=0):
    rng = np.random.default_rng(seed)
    return {**backbone_inputs(batch, length, seed),
            "mask_positions": rng.integers(1, length - 2, (batch, masks)).astype("int32")}


def test_outputs_sequence_and_pooled_states_at_hidden_width():
    outputs = albert()(backbone_inputs())
    assert tuple(outputs["sequence_output"].shape) == (2, 8, 8)
    assert tuple(outputs["pooled_output"].shape) == (2, 8)


def test_token_embedding_has_embedding_width():
    backbone = albert()
    assert backbone.token_embedding.output_dim == 4
    assert tuple(backbone.token_embedding.embeddings.shape) == (VOCAB, 4)


def test_num_layers_not_divisible_by_num_groups_names_both():
    with pytest.raises(ValueError, match="num_layers=5 and num_groups=2"):
        albert(num_layers=5)


def test_parameter_count_grows_with_groups_not_layers():
    base = albert(num_layers=2).count_params()
    assert albert(num_layers=8).count_params() == base
    assert albert(num_layers=8, num_groups=4).count_params() > base


def test_layers_of_a_group_share_one_set_of_weights():
    backbone = albert(num_layers=6, num_groups=2, num_inner_repetitions=2)
    encoders = sorted({w.path.split("/")[0] for w in backbone.weights if "inner_layer" in w.path})
    assert encoders == ["group_0_inner_layer_0", "group_0_inner_layer_1",
                        "group_1_inner_layer_0", "group_1_inner_layer_1"]


def test_config_round_trips():
    backbone = albert(num_inner_repetitions=2, dropout=0.1, activation="gelu")
    rebuilt = AlbertBackbone.from_config(backbone.get_config())
    assert rebuilt.get_config() == backbone.get_config()
    assert rebuilt.count_params() == backbone.count_params()


def test_preset_round_trip_gives_identical_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    task = MaskedLM(albert())
    task.save_to_preset(str(tmp_path))
    restored = MaskedLM.from_preset(str(tmp_path))
    assert type(restored.backbone) is AlbertBackbone
    assert type(Backbone.from_preset(str(tmp_path))) is AlbertBackbone
    x = task_inputs()
    np.testing.assert_array_equal(restored(x).numpy(), task(x).numpy())


def test_masked_lm_loss_falls_when_fitting():
    keras.utils.set_random_seed(0)
    task = MaskedLM(albert(embedding_dim=8))
    x = task_inputs(batch=8)
    labels = x["token_ids"][np.arange(8)[:, None], x["mask_positions"]]
    # Eager: tracing the train step costs more than ten tiny steps.
    task.compile(optimizer=keras.optimizers.Adam(3e-2), run_eagerly=True)
    history = task.fit(x, labels, sample_weight=np.ones((8, 2), "float32"),
                       epochs=10, batch_size=8, verbose=0).history
    assert history["loss"][-1] < 0.75 * history["loss"][0]
