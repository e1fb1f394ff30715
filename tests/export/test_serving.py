"""Pushing to the TF Serving layout: versions, preset beside the model, warmup requests;
no op that a stock TF Serving binary lacks."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.meta_graph import ops_used_by_graph_def
from tensorflow.python.saved_model.loader_impl import parse_saved_model
from tensorflow_serving.apis import prediction_log_pb2

from cloze.data.features import make_example
from cloze.export.saved_model import export_saved_model
from cloze.export.serving import PRESETS_DIR, WARMUP_FILE, push, pushed_version_of, versions

EXAMPLES = [make_example([2, 5 + i % 5, 4, 8, 3], [2], [6], 8, 2).SerializeToString()
            for i in range(6)]


def tiny_model():
    from tests.conftest import TINY_VOCAB
    from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer

    return MaskedLM(BertBackbone(len(TINY_VOCAB), 1, 1, 8, 8, max_sequence_length=8),
                    MaskedLMPreprocessor(WordPieceTokenizer(TINY_VOCAB), sequence_length=8))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    task = tiny_model()
    root = tmp_path_factory.mktemp("exported")
    task.save_to_preset(str(root / "preset"))
    return export_saved_model(task, str(root / "model")), str(root / "preset")


def test_push_lays_out_versions_with_the_preset_beside_them(exported, tmp_path):
    model, preset = exported
    first = push(model, str(tmp_path), "cloze", preset_dir=preset)
    second = push(model, str(tmp_path), "cloze", preset_dir=preset)
    assert second.version == first.version + 1
    assert versions(str(tmp_path / "cloze")) == [first.version, second.version]
    assert second.saved_model_dir == str(tmp_path / "cloze" / str(second.version))
    assert second.preset_dir == str(tmp_path / "cloze" / PRESETS_DIR / str(second.version))
    assert tf.saved_model.contains_saved_model(second.saved_model_dir)
    assert os.path.exists(os.path.join(second.preset_dir, "task.json"))
    assert not [n for n in os.listdir(tmp_path / "cloze") if n.startswith(".tmp")]


def test_a_failed_push_leaves_no_version_behind(exported, tmp_path, monkeypatch):
    model, _ = exported
    from cloze.export import serving

    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(serving, "write_warmup_requests", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        push(model, str(tmp_path), "cloze", warmup_examples=EXAMPLES, version=3)
    assert versions(str(tmp_path / "cloze")) == []


def test_pushing_an_existing_version_is_refused(exported, tmp_path):
    model, _ = exported
    push(model, str(tmp_path), "cloze", version=5)
    with pytest.raises(FileExistsError, match="version 5 already exists"):
        push(model, str(tmp_path), "cloze", version=5)


def test_warmup_requests_are_real_examples_the_model_answers(exported, tmp_path):
    model, _ = exported
    pushed = push(model, str(tmp_path), "cloze", warmup_examples=EXAMPLES)
    loaded = tf.saved_model.load(pushed.saved_model_dir)
    records = list(tf.data.TFRecordDataset(os.path.join(pushed.saved_model_dir, WARMUP_FILE)))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert {log.predict_log.request.model_spec.signature_name for log in logs} == {
        "serving_default", "tf_example"}
    outputs = []
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "cloze"
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs.append(loaded.signatures[request.model_spec.signature_name](**inputs)["logits"])
    assert outputs[0].shape[0] == 4
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)


def test_an_already_pushed_model_is_found_by_its_fingerprint(exported, tmp_path):
    model, _ = exported
    assert pushed_version_of(model, str(tmp_path / "cloze")) is None
    push(model, str(tmp_path), "cloze", warmup_examples=EXAMPLES, version=4)
    push(model, str(tmp_path), "cloze", version=9)
    assert pushed_version_of(model, str(tmp_path / "cloze")) == 9
    other = export_saved_model(tiny_model(), str(tmp_path / "other"))
    assert pushed_version_of(other, str(tmp_path / "cloze")) is None


def test_a_wordpiece_export_uses_only_core_tensorflow_ops(exported):
    model, _ = exported
    graph = parse_saved_model(model).meta_graphs[0].graph_def
    # What `saved_model_cli show --list_ops` lists, less the ops TensorFlow itself registers.
    assert sorted(set(ops_used_by_graph_def(graph)) - set(dir(tf.raw_ops))) == []


def test_a_byte_level_bpe_tokenizer_graph_uses_only_core_tensorflow_ops(tmp_path):
    from cloze.models.tokenizers.byte_pair_tokenizer import BytePairTokenizer, train_byte_pair

    tokenizer = BytePairTokenizer(*train_byte_pair(["low lower lowest"] * 10, 300, str(tmp_path)))
    graph = tf.function(tokenizer.tokenize).get_concrete_function(
        tf.TensorSpec([None], tf.string)).graph.as_graph_def()
    assert sorted(set(ops_used_by_graph_def(graph)) - set(dir(tf.raw_ops))) == []
