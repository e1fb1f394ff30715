"""Every backbone through the same masked-LM life cycle: build, forward, train, save,
load, mixed precision. The architecture table in docs/models.md points here."""
import numpy as np
import pytest

from cloze.models import (AlbertBackbone, Backbone, BertBackbone, DebertaV3Backbone,
                          DistilBertBackbone, FNetBackbone, MaskedLM, RobertaBackbone,
                          RobertaPreLNBackbone, XLMRobertaBackbone)

VOCAB, LENGTH, MASKS = 40, 12, 3
COMMON = dict(vocabulary_size=VOCAB, num_layers=2, hidden_dim=16, intermediate_dim=32,
              max_sequence_length=16)
ARCHITECTURES = {
    "bert": (BertBackbone, dict(num_heads=2)),
    "albert": (AlbertBackbone, dict(num_heads=2, embedding_dim=8, num_groups=1)),
    "roberta": (RobertaBackbone, dict(num_heads=2)),
    "xlm_roberta": (XLMRobertaBackbone, dict(num_heads=2)),
    "roberta_pre_ln": (RobertaPreLNBackbone, dict(num_heads=2)),
    "distil_bert": (DistilBertBackbone, dict(num_heads=2)),
    "f_net": (FNetBackbone, {}),
    "deberta_v3": (DebertaV3Backbone, dict(num_heads=2, bucket_size=4)),
}


def build(name, dtype=None):
    cls, extra = ARCHITECTURES[name]
    return MaskedLM(cls(**COMMON, **extra, dtype=dtype))


def inputs_for(task, seed=0):
    rng = np.random.default_rng(seed)
    values = {
        "token_ids": rng.integers(5, VOCAB, (4, LENGTH)).astype("int32"),
        "segment_ids": np.zeros((4, LENGTH), "int32"),
        "padding_mask": np.ones((4, LENGTH), "int32"),
        "mask_positions": np.tile(np.array([[1, 5, 9]], "int32"), (4, 1)),
    }
    return {name: values[name] for name in task.input}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_build_forward_train_save_load(name, tmp_path):
    task = build(name)
    x = inputs_for(task)
    logits = task(x).numpy()
    assert logits.shape == (4, MASKS, VOCAB) and np.isfinite(logits).all()
    labels = np.take_along_axis(x["token_ids"], x["mask_positions"], axis=1)
    task.compile(optimizer="adam", jit_compile=True)
    history = task.fit(x, labels, epochs=8, batch_size=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    task.save_to_preset(str(tmp_path))
    restored = MaskedLM.from_preset(str(tmp_path))
    assert type(restored.backbone) is type(task.backbone)
    assert type(Backbone.from_preset(str(tmp_path))) is type(task.backbone)
    np.testing.assert_allclose(restored(x).numpy(), task(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_mixed_bfloat16_gives_float32_logits_close_to_float32(name):
    full = build(name)
    mixed = build(name, dtype="mixed_bfloat16")
    mixed.set_weights(full.get_weights())
    x = inputs_for(full)
    reference, low = full(x).numpy(), mixed(x).numpy()
    assert low.dtype == np.float32
    assert np.abs(low - reference).max() < 0.1 * (np.abs(reference).max() + 1)


# Backbones whose last block runs at the masked positions only; the others compute
# the whole sequence and take the positions from it.
LAST_BLOCK_AT_MASKS = {"bert", "albert", "roberta", "xlm_roberta", "roberta_pre_ln",
                       "distil_bert"}


def padded_inputs_for(task):
    """``inputs_for`` with the second half of two sequences padded, a mask slot on a
    padded position and a repeated position."""
    x = inputs_for(task, seed=1)
    x["padding_mask"] = np.ones((4, LENGTH), "int32")
    x["padding_mask"][2:, LENGTH // 2:] = 0
    x["mask_positions"] = np.array([[1, 5, 9], [0, 11, 11], [3, 4, 0], [2, 2, 5]], "int32")
    return {name: x[name] for name in task.input}


def whole_sequence_logits(task, x, training=False):
    """The task's graph as built: the whole sequence, then the masked rows."""
    features = {name: x[name] for name in task.backbone.input}
    sequence = task.backbone(features, training=training)["sequence_output"]
    return task.masked_lm_head(sequence, mask_positions=x["mask_positions"])


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_masked_positions_only_gives_the_whole_sequences_logits_and_gradients(name):
    import tensorflow as tf

    task = build(name)
    x = padded_inputs_for(task)
    assert (task.backbone.last_block() is not None) == (name in LAST_BLOCK_AT_MASKS)
    labels = np.take_along_axis(x["token_ids"], x["mask_positions"], axis=1)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    results = []
    for forward in (lambda: task(x, training=False),
                    lambda: whole_sequence_logits(task, x)):
        with tf.GradientTape() as tape:
            logits = forward()
            value = loss(labels, logits)
        gradients = tape.gradient(value, task.trainable_variables)
        results.append((logits.numpy(), {v.path: g for v, g in
                                         zip(task.trainable_variables, gradients)
                                         if g is not None}))
    (fast, fast_gradients), (whole, whole_gradients) = results
    assert fast.shape == (4, MASKS, VOCAB)
    np.testing.assert_allclose(fast, whole, rtol=1e-5, atol=1e-5)
    assert sorted(fast_gradients) == sorted(whole_gradients)
    for path, gradient in whole_gradients.items():
        np.testing.assert_allclose(tf.convert_to_tensor(fast_gradients[path]).numpy(),
                                   tf.convert_to_tensor(gradient).numpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=path)


def test_last_block_adds_no_weights_to_the_saved_backbone(tmp_path):
    import h5py

    def saved_paths(backbone, directory):
        backbone.save_weights(str(directory / "model.weights.h5"))
        with h5py.File(directory / "model.weights.h5") as f:
            paths = []
            f.visit(paths.append)
        return paths

    task = build("roberta_pre_ln")
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before = saved_paths(task.backbone, tmp_path / "before")
    task(inputs_for(task))  # builds the last block's prefix model
    assert task.backbone.last_block() is not None
    assert [layer.name for layer in task.backbone.last_block().tail] == ["final_layer_norm"]
    assert saved_paths(task.backbone, tmp_path / "after") == before
