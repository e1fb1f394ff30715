"""The whole pipeline with LocalDagRunner on a tiny corpus, checked stage by stage."""
import dataclasses
import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from cloze.config import SPECIAL_TOKENS, EvalConfig, PipelineConfig, ServingConfig
from cloze.data.default_corpus import write_default_corpus
from cloze.data.features import feature_spec
from cloze.data.masking import num_tokens_to_mask
from cloze.data.wordpiece import read_vocabulary
from cloze.models import MaskedLM
from cloze.pipeline.outputs import latest_outputs
from cloze.pipeline.runner import METADATA_FILE, run_local

SEQ, PREDICTIONS = 64, 10


def tiny_config(corpus_dir, on_invalid_utf8="skip") -> PipelineConfig:
    return PipelineConfig.from_dict({
        "name": "tiny",
        "corpus": {"paths": [corpus_dir], "on_invalid_utf8": on_invalid_utf8},
        "vocab": {"vocab_size": 600},
        "data": {"max_seq_length": SEQ, "max_predictions_per_seq": PREDICTIONS,
                 "eval_percent": 10, "num_shards": 2},
        "model": {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
                  "max_sequence_length": SEQ},
        "train": {"batch_size": 16, "train_steps": 60, "steps_per_execution": 5,
                  "learning_rate": 2e-3},
    })


def write_awkward_files(corpus_dir):
    """An empty file, a JSON Lines file with one empty document, a file with invalid UTF-8."""
    open(os.path.join(corpus_dir, "empty.txt"), "w").close()
    with open(os.path.join(corpus_dir, "docs.jsonl"), "w") as f:
        f.write(json.dumps({"text": "A JSON document about lists and dictionaries."}) + "\n")
        f.write(json.dumps({"text": "   "}) + "\n")
    with open(os.path.join(corpus_dir, "latin1.txt"), "wb") as f:
        f.write(b"A fine document.\n\nThis one says caf\xe9 in Latin-1.\n")
    with gzip.open(os.path.join(corpus_dir, "more.txt.gz"), "wt") as f:
        f.write("Compressed text is read too.\n\nAnd split into documents.\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    corpus_dir = write_default_corpus(str(root / "corpus"), 120_000)
    write_awkward_files(corpus_dir)
    summary = run_local(tiny_config(corpus_dir), str(root / "out"))
    return root, summary


def read_records(examples_dir, split):
    files = tf.io.gfile.glob(os.path.join(examples_dir, f"Split-{split}", "*"))
    return list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())


def test_awkward_inputs_are_counted_not_lost(run):
    _, summary = run
    counts = summary.document_counts
    assert counts["files_skipped_empty"] == 1
    assert counts["documents_skipped_empty"] == 1
    assert counts["documents_skipped_invalid_utf8"] == 1
    skipped = counts["documents_skipped_empty"] + counts["documents_skipped_invalid_utf8"]
    assert counts["documents_read"] == (counts["documents_written_train"]
                                        + counts["documents_written_eval"] + skipped)


def test_records_parse_against_the_written_schema(run):
    root, summary = run
    schema_uri = latest_outputs(str(root / "out" / METADATA_FILE), "tiny",
                                "MaskedLmExampleGen")["schema"][0]
    with open(os.path.join(schema_uri, "schema.pbtxt")) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    spec = {}
    for feature in schema.feature:
        dtype = tf.int64 if feature.type == schema_pb2.INT else tf.float32
        spec[feature.name] = tf.io.FixedLenFeature([d.size for d in feature.shape.dim], dtype)
    assert spec == feature_spec(SEQ, PREDICTIONS)
    for split in ("train", "eval"):
        records = read_records(summary.examples_dir, split)
        assert records, split
        parsed = tf.io.parse_example(records, spec)
        assert parsed["input_ids"].shape == (len(records), SEQ)


def test_statistics_show_no_anomalies_against_the_schema(run):
    import tensorflow_data_validation as tfdv

    root, _ = run
    metadata = str(root / "out" / METADATA_FILE)
    stats_uri = latest_outputs(metadata, "tiny", "StatisticsGen")["statistics"][0]
    schema_uri = latest_outputs(metadata, "tiny", "MaskedLmExampleGen")["schema"][0]
    schema = tfdv.load_schema_text(os.path.join(schema_uri, "schema.pbtxt"))
    stats = tfdv.load_stats_binary(os.path.join(stats_uri, "Split-train", "FeatureStats.pb"))
    anomalies = tfdv.validate_statistics(stats, schema)
    assert not anomalies.anomaly_info, anomalies


def test_every_masked_position_obeys_the_masking_rules(run):
    _, summary = run
    vocabulary = read_vocabulary(summary.vocabulary_file)
    special = {vocabulary.index(t) for t in SPECIAL_TOKENS}
    mask_id = vocabulary.index("[MASK]")
    parsed = tf.io.parse_example(read_records(summary.examples_dir, "train"),
                                 feature_spec(SEQ, PREDICTIONS))
    ids, input_mask = parsed["input_ids"].numpy(), parsed["input_mask"].numpy()
    positions, labels = parsed["masked_lm_positions"].numpy(), parsed["masked_lm_ids"].numpy()
    weights = parsed["masked_lm_weights"].numpy()
    replaced_by_mask = total = 0
    for row in range(len(ids)):
        length, n = int(input_mask[row].sum()), int(weights[row].sum())
        used = positions[row][:n]
        original = ids[row][:length].copy()
        original[used] = labels[row][:n]
        candidates = sum(1 for token in original if token not in special)
        assert n == num_tokens_to_mask(candidates, 0.15, PREDICTIONS)
        assert list(used) == sorted(set(used))
        assert all(1 <= p <= length - 2 for p in used)
        assert not set(labels[row][:n]) & special
        assert not weights[row][n:].any() and not positions[row][n:].any()
        replaced_by_mask += int((ids[row][used] == mask_id).sum())
        total += n
    assert 0.7 < replaced_by_mask / total < 0.9


def test_training_loss_falls(run):
    _, summary = run
    losses = summary.training.history["loss"]
    assert losses[-1] < losses[0] - 0.5
    assert summary.training.eval_loss is not None


def test_saved_model_in_a_fresh_process_matches_the_keras_model(run, tmp_path):
    _, summary = run
    parsed = tf.io.parse_example(read_records(summary.examples_dir, "eval")[:4],
                                 feature_spec(SEQ, PREDICTIONS))
    inputs = {
        "token_ids": parsed["input_ids"].numpy().astype("int32"),
        "segment_ids": parsed["segment_ids"].numpy().astype("int32"),
        "padding_mask": parsed["input_mask"].numpy().astype("int32"),
        "mask_positions": parsed["masked_lm_positions"].numpy().astype("int32"),
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_text
        assert "cloze" not in sys.modules and "keras_hub" not in sys.modules
        inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))
        model = tf.saved_model.load({summary.serving_dir!r})
        logits = model.signatures["serving_default"](**{{k: tf.constant(v) for k, v in inputs.items()}})["logits"]
        fills = model.signatures["fill_mask"](texts=tf.constant(["the [MASK] of the list"]))
        np.savez({str(tmp_path / 'out.npz')!r}, logits=logits.numpy(), tokens=fills["tokens"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "PYTHONPATH": ""},
                   cwd=str(tmp_path))
    out = np.load(tmp_path / "out.npz", allow_pickle=True)
    vocabulary_size = len(read_vocabulary(summary.vocabulary_file))
    assert out["logits"].shape == (4, PREDICTIONS, vocabulary_size)
    keras_model = MaskedLM.from_preset(summary.preset_dir)
    np.testing.assert_allclose(out["logits"], keras_model(inputs).numpy(), atol=1e-5)
    assert out["tokens"].shape[:2] == (1, 8)


def test_preset_reloads_with_identical_outputs(run, tmp_path):
    _, summary = run
    first = MaskedLM.from_preset(summary.preset_dir)
    first.save_to_preset(str(tmp_path / "again"))
    second = MaskedLM.from_preset(str(tmp_path / "again"))
    text = ["the [MASK] of the list", "open a [MASK] and read it"]
    assert first.fill_mask(text) == second.fill_mask(text)


def test_cli_fill_mask_prints_top_five_from_both_formats(run):
    _, summary = run
    for model in (summary.serving_dir, summary.preset_dir):
        result = subprocess.run(
            [sys.executable, "-m", "cloze.pipeline.cli", "fill-mask", model, "the [MASK] is here"],
            check=True, capture_output=True, text=True)
        lines = result.stdout.strip().splitlines()
        assert lines[0] == "the [MASK] is here"
        assert lines[1].startswith("  [MASK] #1:") and len(lines[1].split()) == 2 + 2 * 5


def test_invalid_utf8_fails_the_run_naming_file_and_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Some text.\n\nMore text.\n")
    (corpus / "bad.txt").write_bytes(b"Line one.\nLine two.\nBad \xff byte.\n")
    with pytest.raises(Exception, match=r"bad\.txt:3"):
        run_local(tiny_config(str(corpus), on_invalid_utf8="fail"), str(tmp_path / "out"))


# Evaluation, blessing and pushing: the first run is blessed against no baseline; a second
# run of a deliberately worse model (one training step) against it is not.

@pytest.fixture(scope="module")
def worse_run(run):
    root, _ = run
    config = tiny_config(str(root / "corpus"))
    config = PipelineConfig.from_dict({**config.to_dict(),
                                       "train": {**config.to_dict()["train"], "train_steps": 1,
                                                 "jit_compile": False}})
    return root, run_local(config, str(root / "out"))


def newest_execution(metadata_path, component_id):
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    store = mlmd.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
    context = store.get_context_by_type_and_name("node", f"tiny.{component_id}")
    return max(store.get_executions_by_context(context.id),
               key=lambda e: (e.create_time_since_epoch, e.id))


def test_first_model_is_blessed_and_pushed_with_preset_and_warmup(run):
    from cloze.export.serving import WARMUP_FILE, versions

    root, summary = run
    assert summary.evaluation["blessed"] and summary.evaluation["baseline"] is None
    blessing = latest_outputs(str(root / "out" / METADATA_FILE), "tiny",
                              "MaskedLmEvaluator")["blessing"][0]
    assert os.listdir(blessing) == ["BLESSED"]
    pushed = summary.push["saved_model_dir"]
    assert versions(str(root / "out" / "serving" / "cloze")) == [int(os.path.basename(pushed))]
    assert tf.saved_model.contains_saved_model(pushed)
    assert os.path.exists(os.path.join(pushed, WARMUP_FILE))
    assert MaskedLM.from_preset(summary.push["preset_dir"]).fill_mask(["the [MASK] of"])


def test_evaluator_metrics_equal_the_keras_model_on_the_eval_split(run):
    root, summary = run
    from cloze.evaluation.metrics import MetricSums

    model = MaskedLM.from_preset(summary.preset_dir)
    parsed = tf.io.parse_example(read_records(summary.examples_dir, "eval"),
                                 feature_spec(SEQ, PREDICTIONS))
    sums = MetricSums()
    sums.add(model({"token_ids": parsed["input_ids"], "segment_ids": parsed["segment_ids"],
                    "padding_mask": parsed["input_mask"],
                    "mask_positions": parsed["masked_lm_positions"]}),
             parsed["masked_lm_ids"], parsed["masked_lm_weights"])
    expected, candidate = sums.result(), summary.evaluation["candidate"]
    assert candidate["num_predictions"] == expected.num_predictions
    for name in ("loss", "accuracy", "top5_accuracy"):
        assert candidate[name] == pytest.approx(getattr(expected, name), abs=1e-4), name
    evaluation_dir = latest_outputs(str(root / "out" / METADATA_FILE), "tiny",
                                    "MaskedLmEvaluator")["evaluation"][0]
    assert "BLESSED" in open(os.path.join(evaluation_dir, "report.html")).read()


def test_worse_model_is_not_blessed_and_not_pushed(worse_run):
    from cloze.export.serving import versions

    root, summary = worse_run
    evaluation = summary.evaluation
    assert not evaluation["blessed"]
    assert evaluation["candidate"]["loss"] > evaluation["baseline"]["loss"]
    assert [c["name"] for c in evaluation["checks"] if not c["passed"]] == ["loss vs baseline"]
    assert summary.push is None
    assert len(versions(str(root / "out" / "serving" / "cloze"))) == 1


def test_second_run_reuses_the_cached_data_components(worse_run):
    from ml_metadata.proto import metadata_store_pb2

    root, _ = worse_run
    metadata = str(root / "out" / METADATA_FILE)
    for component in ("TextExampleGen", "VocabularyGen", "MaskedLmExampleGen", "StatisticsGen"):
        assert (newest_execution(metadata, component).last_known_state
                == metadata_store_pb2.Execution.CACHED), component
    assert (newest_execution(metadata, "Trainer").last_known_state
            == metadata_store_pb2.Execution.COMPLETE)


@pytest.fixture(scope="module")
def retuned_run(worse_run):
    """The first run's config again, with only the thresholds and the model name changed."""
    root, _ = worse_run
    config = dataclasses.replace(tiny_config(str(root / "corpus")),
                                 eval=EvalConfig(min_accuracy=0.0, max_loss_increase=None),
                                 serving=ServingConfig(model_name="cloze-en"))
    return root, run_local(config, str(root / "out"))


def test_new_thresholds_and_model_name_reach_evaluator_and_pusher_without_retraining(
        retuned_run):
    from ml_metadata.proto import metadata_store_pb2

    root, summary = retuned_run
    assert (newest_execution(str(root / "out" / METADATA_FILE), "Trainer").last_known_state
            == metadata_store_pb2.Execution.CACHED)
    assert summary.evaluation["eval_config"]["min_accuracy"] == 0.0
    assert [c["name"] for c in summary.evaluation["checks"]] == ["accuracy"]
    assert summary.evaluation["blessed"] and summary.push["model_name"] == "cloze-en"
    assert (os.path.dirname(summary.push["saved_model_dir"])
            == str(root / "out" / "serving" / "cloze-en"))
