"""The masked-LM stack under mixed precision: float32 logits, trainable, savable."""
import numpy as np
import pytest

from cloze.models import BertBackbone, MaskedLM


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_masked_lm_trains_and_round_trips_under_mixed_precision(policy, tmp_path):
    backbone = BertBackbone(vocabulary_size=40, num_layers=1, num_heads=2, hidden_dim=16,
                            intermediate_dim=32, max_sequence_length=16, dtype=policy)
    task = MaskedLM(backbone)
    rng = np.random.default_rng(0)
    inputs = {"token_ids": rng.integers(5, 40, (8, 12)).astype("int32"),
              "segment_ids": np.zeros((8, 12), "int32"),
              "padding_mask": np.ones((8, 12), "int32"),
              "mask_positions": np.tile(np.array([[1, 4, 7]], "int32"), (8, 1))}
    logits = task(inputs)
    assert logits.dtype == "float32"
    backbone_inputs = {k: v for k, v in inputs.items() if k != "mask_positions"}
    assert backbone(backbone_inputs)["sequence_output"].dtype == policy.split("_")[1]
    assert backbone.token_embedding.embeddings.dtype == "float32"
    labels = np.take_along_axis(inputs["token_ids"], inputs["mask_positions"], axis=1)
    task.compile(optimizer="adam")
    history = task.fit(inputs, labels, epochs=5, batch_size=8, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    task.save_to_preset(str(tmp_path))
    restored = MaskedLM.from_preset(str(tmp_path))
    assert restored.backbone.dtype_policy.name == policy
    np.testing.assert_allclose(restored(inputs).numpy(), task(inputs).numpy(), atol=1e-6)
