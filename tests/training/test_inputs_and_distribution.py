"""tf.data input in both naming conventions, dynamic masking, mirrored training, and
multi-worker training's need for TF_CONFIG (two workers train in test_multi_worker.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cloze.config import ConfigError, DataConfig, TrainConfig
from cloze.models.layers.masked_lm_mask_generator import MaskedLMMaskGenerator
from cloze.training.dataset import RecordLayout, masked_lm_dataset
from cloze.training.strategy import distribution_strategy

SCRIPT = os.path.join(os.path.dirname(__file__), "train_script.py")


def write_unmasked(path, names, rows=16, length=16):
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for _ in range(rows):
            ids = [2] + list(rng.integers(5, 30, length - 2)) + [3]
            feature = {names[0]: ids, "input_mask": [1] * length, names[1]: [0] * length}
            example = tf.train.Example(features=tf.train.Features(feature={
                k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                for k, v in feature.items()}))
            writer.write(example.SerializeToString())


def test_unmasked_model_garden_records_get_dynamic_masks(tmp_path):
    path = str(tmp_path / "data.gz")
    write_unmasked(path, ("input_word_ids", "input_type_ids"))
    assert RecordLayout.of([path]) == RecordLayout(model_garden_names=True, static_masks=False)
    generator = MaskedLMMaskGenerator(30, 0.15, 4, mask_selection_length=4,
                                      unselectable_token_ids=[0, 1, 2, 3, 4], seed=1)
    config = DataConfig(max_seq_length=16, max_predictions_per_seq=4)
    inputs, labels, weights = next(iter(masked_lm_dataset(path, config, 8, training=False,
                                                          mask_generator=generator)))
    assert inputs["token_ids"].shape == (8, 16) and labels.shape == (8, 4)
    assert weights.numpy().sum(axis=1).tolist() == [2.0] * 8  # round(14 * 0.15) = 2
    assert (labels.numpy()[weights.numpy() > 0] >= 5).all()


def test_unmasked_records_without_a_generator_are_refused(tmp_path):
    path = str(tmp_path / "data.gz")
    write_unmasked(path, ("input_ids", "segment_ids"))
    try:
        masked_lm_dataset(path, DataConfig(max_seq_length=16, max_predictions_per_seq=4), 8,
                          training=False)
    except ValueError as error:
        assert "unmasked" in str(error)
    else:
        raise AssertionError("expected a ValueError")


def test_mirrored_training_on_two_logical_cpus(shards, training_config, tmp_path):
    # XLA cannot place one compiled step across logical CPU devices (it can across GPUs).
    config = training_config(distribution="mirrored", train_steps=4, steps_per_execution=2,
                             jit_compile=False)
    result = subprocess.run(
        [sys.executable, SCRIPT, config.to_json(), *shards, str(tmp_path)],
        env={**os.environ, "LOGICAL_CPUS": "2"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    with open(tmp_path / "logs" / "training_result.json") as f:
        assert np.isfinite(json.load(f)["history"]["loss"]).all()


def test_multi_worker_without_tf_config_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        distribution_strategy(TrainConfig(distribution="multi_worker"))


def test_multi_worker_after_tensorflow_ran_an_op_is_refused_saying_why(monkeypatch):
    tf.constant(0)  # TensorFlow's runtime now runs in this process
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"worker": ["localhost:1", "localhost:2"]},
        "task": {"type": "worker", "index": 0}}))
    with pytest.raises(RuntimeError, match="before this process runs any TensorFlow op"):
        distribution_strategy(TrainConfig(distribution="multi_worker"))
