"""The exported SavedModel: its four signatures, in-graph input checks, and the CLI tools."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from cloze.data.features import make_example
from cloze.export.saved_model import (ENCODE_SIGNATURE, FILL_MASK_SIGNATURE, SERVING_SIGNATURE,
                                      TF_EXAMPLE_SIGNATURE, export_saved_model)
from tests.conftest import TINY_VOCAB

SEQ = 16
INPUTS = {
    "token_ids": np.array([[2, 5, 4, 8, 3, 0], [2, 11, 7, 4, 6, 3]], "int32"),
    "segment_ids": np.zeros((2, 6), "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], "int32"),
    "mask_positions": np.array([[2, 0], [3, 1]], "int32"),
}
TEXTS = ["the cat [MASK] on the mat", "a [MASK] ran"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer
    import keras

    keras.utils.set_random_seed(0)
    backbone = BertBackbone(vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2,
                            hidden_dim=16, intermediate_dim=32, max_sequence_length=SEQ,
                            dropout=0.0)
    task = MaskedLM(backbone, MaskedLMPreprocessor(WordPieceTokenizer(TINY_VOCAB),
                                                   sequence_length=SEQ))
    path = export_saved_model(task, str(tmp_path_factory.mktemp("export") / "model"))
    return task, path, tf.saved_model.load(path)


def call(loaded, signature, **inputs):
    outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def serialized_examples():
    return [make_example(list(ids[:int(mask.sum())]), list(positions), [5] * len(positions),
                         8, 2).SerializeToString()
            for ids, mask, positions in zip(INPUTS["token_ids"], INPUTS["padding_mask"],
                                            INPUTS["mask_positions"])]


def test_tf_example_signature_gives_the_logits_of_serving_default(model):
    _, _, loaded = model
    from_examples = call(loaded, TF_EXAMPLE_SIGNATURE,
                         examples=np.array(serialized_examples(), object))["logits"]
    from_tensors = call(loaded, SERVING_SIGNATURE, **INPUTS)["logits"]
    np.testing.assert_allclose(from_examples, from_tensors, atol=1e-5)


def model_garden_names(serialized):
    example = tf.train.Example.FromString(serialized)
    features = example.features.feature
    for bert, garden in (("input_ids", "input_word_ids"), ("segment_ids", "input_type_ids")):
        features[garden].CopyFrom(features[bert])
        del features[bert]
    return example.SerializeToString()


def test_tf_example_reads_model_garden_feature_names_too(model):
    _, _, loaded = model
    bert = serialized_examples()
    mixed = np.array([model_garden_names(bert[0]), bert[1]], object)
    np.testing.assert_allclose(
        call(loaded, TF_EXAMPLE_SIGNATURE, examples=mixed)["logits"],
        call(loaded, TF_EXAMPLE_SIGNATURE, examples=np.array(bert, object))["logits"], atol=1e-6)


def test_an_example_whose_input_mask_is_short_fails_naming_it(model):
    _, _, loaded = model
    example = tf.train.Example.FromString(serialized_examples()[0])
    del example.features.feature["input_mask"].int64_list.value[-1]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="input_mask: length differs from input_ids"):
        call(loaded, TF_EXAMPLE_SIGNATURE, examples=np.array([example.SerializeToString()], object))


def test_encode_gives_the_backbone_outputs_of_the_packed_text(model):
    task, _, loaded = model
    encoded = call(loaded, ENCODE_SIGNATURE, texts=np.array(TEXTS, object))
    packed = task.preprocessor.pack(task.preprocessor.tokenizer.tokenize(tf.constant(TEXTS)))
    expected = task.backbone(packed)
    assert encoded["sequence_output"].shape == (2, SEQ, 16)
    assert encoded["pooled_output"].shape == (2, 16)
    np.testing.assert_array_equal(encoded["token_ids"], packed["token_ids"].numpy())
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(encoded[name], expected[name].numpy(), atol=1e-5)


def test_text_longer_than_the_sequence_is_truncated_to_it(model):
    _, _, loaded = model
    encoded = call(loaded, ENCODE_SIGNATURE, texts=np.array(["the cat sat " * 20], object))
    assert encoded["token_ids"].shape == (1, SEQ)
    assert encoded["token_ids"][0, -1] == TINY_VOCAB.index("[SEP]")
    filled = call(loaded, FILL_MASK_SIGNATURE, texts=np.array(["the cat " * 20 + "[MASK]"], object))
    assert filled["mask_weights"].sum() == 0  # the mask was cut off with the text


@pytest.mark.parametrize("name, value, message", [
    ("token_ids", [[2, 5, 99, 8, 3, 0], [2, 11, 7, 4, 6, 3]], "token_ids: an id is outside"),
    ("token_ids", [[2, 5, -1, 8, 3, 0], [2, 11, 7, 4, 6, 3]], "token_ids: an id is outside"),
    ("mask_positions", [[2, 6], [3, 1]], "mask_positions: a position is outside the sequence"),
    ("segment_ids", [[0, 0, 2, 0, 0, 0], [0] * 6], "segment_ids: a value is outside"),
    ("padding_mask", [[1, 1], [1, 1]], "padding_mask: shape differs from token_ids"),
])
def test_bad_tensor_inputs_fail_naming_the_input(model, name, value, message):
    _, _, loaded = model
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(loaded, SERVING_SIGNATURE, **{**INPUTS, name: np.array(value, "int32")})


def test_sequence_longer_than_max_sequence_length_fails_naming_it(model):
    _, _, loaded = model
    long = {k: np.tile(v, (1, 3)) if k != "mask_positions" else v for k, v in INPUTS.items()}
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_sequence_length=16"):
        call(loaded, SERVING_SIGNATURE, **long)


def stock_saved_model_cli(*args):
    """Runs TensorFlow's own ``saved_model_cli`` (the console script beside the interpreter)."""
    executable = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return subprocess.run([executable, *args], check=True, capture_output=True, text=True,
                          timeout=300)


def test_saved_model_cli_show_all_lists_every_signature(model):
    _, path, _ = model
    result = stock_saved_model_cli("show", "--dir", path, "--all")
    for signature in (SERVING_SIGNATURE, FILL_MASK_SIGNATURE, ENCODE_SIGNATURE,
                      TF_EXAMPLE_SIGNATURE):
        assert f"signature_def['{signature}']" in result.stdout


def test_stock_saved_model_cli_run_gives_the_keras_logits(model, tmp_path):
    task, path, _ = model
    np.savez(tmp_path / "inputs.npz", **INPUTS)
    feeds = ";".join(f"{k}={tmp_path / 'inputs.npz'}[{k}]" for k in INPUTS)
    stock_saved_model_cli("run", "--dir", path, "--tag_set", "serve",
                          "--signature_def", SERVING_SIGNATURE, "--inputs", feeds,
                          "--outdir", str(tmp_path / "out"))
    logits = np.load(tmp_path / "out" / "logits.npy")
    np.testing.assert_allclose(logits, task(INPUTS).numpy(), atol=1e-5)


def test_stock_saved_model_cli_run_fills_masks_as_the_keras_model(model, tmp_path):
    task, path, _ = model
    result = stock_saved_model_cli("run", "--dir", path, "--tag_set", "serve",
                                   "--signature_def", FILL_MASK_SIGNATURE,
                                   "--input_exprs", f"texts={TEXTS!r}",
                                   "--outdir", str(tmp_path / "out"))
    assert "Result for output key ids" in result.stdout
    from cloze.models.tasks.fill_mask import fill_mask
    fills = fill_mask(task, task.preprocessor, TEXTS, top_k=10, num_masks=8)
    out = {key: np.load(tmp_path / "out" / f"{key}.npy", allow_pickle=True)
           for key in ("ids", "scores", "mask_weights")}
    np.testing.assert_array_equal(out["mask_weights"], fills["mask_weights"].numpy())
    np.testing.assert_array_equal(out["ids"][:, 0], fills["ids"].numpy()[:, 0])
    np.testing.assert_allclose(out["scores"], fills["scores"].numpy(), atol=1e-5)


def test_a_fresh_process_with_only_tensorflow_gets_the_keras_answers(model, tmp_path):
    task, path, _ = model
    np.savez(tmp_path / "inputs.npz", **INPUTS)
    np.save(tmp_path / "examples.npy", np.array(serialized_examples(), object))
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        assert not any(m.split(".")[0] in ("cloze", "keras", "keras_hub", "tensorflow_text")
                       for m in sys.modules)
        model = tf.saved_model.load({path!r})
        inputs = {{k: tf.constant(v) for k, v in np.load("inputs.npz").items()}}
        examples = tf.constant(list(np.load("examples.npy", allow_pickle=True)))
        texts = tf.constant({TEXTS!r})
        fills = model.signatures["fill_mask"](texts=texts)
        np.savez("out.npz",
                 logits=model.signatures["serving_default"](**inputs)["logits"].numpy(),
                 example_logits=model.signatures["tf_example"](examples=examples)["logits"].numpy(),
                 sequence_output=model.signatures["encode"](texts=texts)["sequence_output"].numpy(),
                 fill_ids=fills["ids"].numpy(), fill_scores=fills["scores"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(tmp_path),
                   env={**os.environ, "PYTHONPATH": ""})
    out = np.load(tmp_path / "out.npz")
    expected_logits = task(INPUTS).numpy()
    np.testing.assert_allclose(out["logits"], expected_logits, atol=1e-5)
    np.testing.assert_allclose(out["example_logits"], expected_logits, atol=1e-5)
    packed = task.preprocessor.pack(task.preprocessor.tokenizer.tokenize(tf.constant(TEXTS)))
    np.testing.assert_allclose(out["sequence_output"],
                               task.backbone(packed)["sequence_output"].numpy(), atol=1e-5)
    from cloze.models.tasks.fill_mask import fill_mask
    fills = fill_mask(task, task.preprocessor, TEXTS, top_k=10, num_masks=8)
    np.testing.assert_array_equal(out["fill_ids"][:, 0], fills["ids"].numpy()[:, 0])
    np.testing.assert_allclose(out["fill_scores"], fills["scores"].numpy(), atol=1e-5)
