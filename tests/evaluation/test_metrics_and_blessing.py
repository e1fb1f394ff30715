"""Masked-LM metrics through the SavedModel, and the blessing rules."""
import numpy as np
import pytest
import tensorflow as tf

from cloze.data.features import make_example
from cloze.config import ConfigError, EvalConfig
from cloze.evaluation.blessing import judge
from cloze.evaluation.metrics import MaskedLmMetrics, MetricSums, evaluate_saved_model
from cloze.export.saved_model import export_saved_model

GOOD = MaskedLmMetrics(loss=2.0, perplexity=7.39, accuracy=0.5, top5_accuracy=0.8,
                       num_predictions=100.0, num_examples=10)


def write_examples(path, rows):
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for ids, positions, labels in rows:
            writer.write(make_example(ids, positions, labels, 8, 3).SerializeToString())


def test_saved_model_metrics_equal_the_keras_model(tiny_task, tmp_path):
    rows = [([2, 5, 4, 8, 3], [2], [6]), ([2, 11, 4, 4, 12, 3], [2, 3], [7, 8]),
            ([2, 4, 3], [1], [10])] * 3
    write_examples(str(tmp_path / "eval-00000.gz"), rows)
    model = export_saved_model(tiny_task, str(tmp_path / "model"))
    metrics = evaluate_saved_model(model, str(tmp_path / "eval-*"), batch_size=4)
    parsed = [tf.train.Example.FromString(make_example(*r, 8, 3).SerializeToString()) for r in rows]
    feature = lambda name: np.array([list(p.features.feature[name].int64_list.value
                                          or p.features.feature[name].float_list.value)
                                     for p in parsed])
    sums = MetricSums()
    sums.add(tiny_task({"token_ids": feature("input_ids"), "segment_ids": feature("segment_ids"),
                        "padding_mask": feature("input_mask"),
                        "mask_positions": feature("masked_lm_positions")}),
             feature("masked_lm_ids"), feature("masked_lm_weights"))
    expected = sums.result()
    assert metrics.num_predictions == expected.num_predictions == 12
    assert metrics.num_examples == 9
    for name in ("loss", "perplexity", "accuracy", "top5_accuracy"):
        assert getattr(metrics, name) == pytest.approx(getattr(expected, name), rel=1e-5)


def test_examples_without_masks_are_refused_with_the_reason():
    sums = MetricSums()
    sums.add(np.zeros((1, 2, 5)), [[0, 0]], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="no masked positions in 1 examples"):
        sums.result()


def test_every_failed_threshold_is_named():
    judgement = judge(GOOD, EvalConfig(max_perplexity=5.0, min_accuracy=0.6,
                                       min_top5_accuracy=0.7))
    assert not judgement.blessed
    assert [(c.name, c.passed) for c in judgement.checks] == [
        ("perplexity", False), ("accuracy", False), ("top5_accuracy", True)]


def test_a_model_within_the_allowed_loss_increase_over_the_baseline_is_blessed():
    slightly_worse = MaskedLmMetrics(2.05, 7.77, 0.5, 0.8, 100.0, 10)
    assert not judge(slightly_worse, EvalConfig(), baseline=GOOD).blessed
    assert judge(slightly_worse, EvalConfig(max_loss_increase=0.1), baseline=GOOD).blessed
    assert judge(slightly_worse, EvalConfig(max_loss_increase=None), baseline=GOOD).blessed


@pytest.mark.parametrize("values, message", [
    ({"min_accuracy": -1}, "eval.min_accuracy=-1 is invalid"),
    ({"max_loss_increase": -0.5}, "eval.max_loss_increase=-0.5 is invalid"),
])
def test_bad_thresholds_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        EvalConfig(**values)
