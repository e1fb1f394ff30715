"""SavedModel export: signatures and equality with the Keras model."""
import numpy as np
import tensorflow as tf

from cloze.export.fill_mask import FillMasker
from cloze.export.saved_model import FILL_MASK_SIGNATURE, SERVING_SIGNATURE, export_saved_model


def test_saved_model_logits_equal_keras(tiny_task, tmp_path):
    path = export_saved_model(tiny_task, str(tmp_path / "model"))
    inputs = {
        "token_ids": np.array([[2, 5, 4, 8, 3, 0]], "int32"),
        "segment_ids": np.zeros((1, 6), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 0]], "int32"),
        "mask_positions": np.array([[2, 0]], "int32"),
    }
    loaded = tf.saved_model.load(path)
    logits = loaded.signatures[SERVING_SIGNATURE](**inputs)["logits"].numpy()
    assert logits.shape == (1, 2, 15)
    np.testing.assert_allclose(logits, tiny_task(inputs).numpy(), atol=1e-5)


def test_fill_mask_from_saved_model_matches_preset(tiny_task, tmp_path):
    saved = export_saved_model(tiny_task, str(tmp_path / "model"))
    tiny_task.save_to_preset(str(tmp_path / "preset"))
    assert FILL_MASK_SIGNATURE in tf.saved_model.load(saved).signatures
    text = ["the cat [MASK] on the mat"]
    from_saved = FillMasker(saved)(text, top_k=3)
    from_preset = FillMasker(str(tmp_path / "preset"))(text, top_k=3)
    assert [t for t, _ in from_saved[0][0]] == [t for t, _ in from_preset[0][0]]
    np.testing.assert_allclose([s for _, s in from_saved[0][0]],
                               [s for _, s in from_preset[0][0]], atol=1e-5)
