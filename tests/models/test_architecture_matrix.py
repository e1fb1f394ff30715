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
