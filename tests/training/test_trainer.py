"""The training core: resume after SIGKILL and SIGTERM, divergence, config errors,
mixed precision, options, report."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from cloze.config import ConfigError, TrainConfig
from cloze.models import MaskedLM
from cloze.training.callbacks import TrainingDiverged
from cloze.training.checkpoints import TrainingCheckpoint
from cloze.training.trainer import (TrainingOutputs, build_optimizer, build_task,
                                    compile_options, train)

SCRIPT = os.path.join(os.path.dirname(__file__), "train_script.py")


def outputs(root):
    return TrainingOutputs(f"{root}/serving", f"{root}/preset", f"{root}/logs")


def start(config, shards, out, stdout=subprocess.DEVNULL):
    return subprocess.Popen([sys.executable, SCRIPT, config.to_json(), *shards, str(out)],
                            stdout=stdout, stderr=subprocess.DEVNULL, text=True)


def wait_for_checkpoint(out, at_least, process, timeout=240):
    state = os.path.join(out, "logs", "checkpoints", "state.json")
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        if os.path.exists(state):
            try:
                with open(state) as f:
                    if json.load(f)["batches"] >= at_least:
                        return
            except (json.JSONDecodeError, OSError):
                pass
        time.sleep(0.2)
    raise TimeoutError("no checkpoint appeared")


def test_sigkill_then_rerun_resumes_and_matches_an_uninterrupted_run(shards, training_config, tmp_path):
    config = training_config(train_steps=40, checkpoint_every_steps=4, steps_per_execution=2)
    whole = start(config, shards, tmp_path / "whole")
    interrupted = start(config, shards, tmp_path / "cut")
    wait_for_checkpoint(tmp_path / "cut", 12, interrupted)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    with open(tmp_path / "cut" / "logs" / "checkpoints" / "state.json") as f:
        killed_at = json.load(f)["batches"]
    assert 12 <= killed_at < 40
    assert start(config, shards, tmp_path / "cut").wait() == 0
    assert whole.wait() == 0
    resumed = MaskedLM.from_preset(str(tmp_path / "cut" / "preset"))
    reference = MaskedLM.from_preset(str(tmp_path / "whole" / "preset"))
    for a, b in zip(resumed.weights, reference.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)
    with open(tmp_path / "cut" / "logs" / "training_result.json") as f:
        assert json.load(f)["steps"][-1] == 40


def test_sigterm_checkpoints_at_the_signal_and_a_rerun_resumes_from_that_step(shards, training_config, tmp_path):
    # One step per call: the callback sees every step, so the signal is handled at the
    # next one, between the checkpoints of the 6-step log points.
    config = training_config(train_steps=60, steps_per_execution=1)
    run = start(config, shards, tmp_path, stdout=subprocess.PIPE)
    wait_for_checkpoint(tmp_path, 6, run)
    run.send_signal(signal.SIGTERM)
    printed, _ = run.communicate(timeout=240)
    assert run.returncode == 143, printed[-2000:]
    stopped_at = int(re.search(r"stopped by SIGTERM after step (\d+)", printed).group(1))
    assert 6 <= stopped_at < 60
    checkpoints = tmp_path / "logs" / "checkpoints"
    assert json.loads((checkpoints / "state.json").read_text())["batches"] == stopped_at
    assert (checkpoints / f"ckpt-{stopped_at}.weights.h5").exists()
    assert not (tmp_path / "preset").exists()
    rerun = start(config, shards, tmp_path, stdout=subprocess.PIPE)
    printed, _ = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, printed[-2000:]
    assert f"resuming at step {stopped_at} " in printed
    with open(tmp_path / "logs" / "training_result.json") as f:
        assert json.load(f)["steps"][-1] == 60


def test_mixed_float16_trains_with_loss_scaling_and_its_checkpoint_restores(shards, training_config, tmp_path):
    config = training_config(dtype_policy="mixed_float16", train_steps=8)
    result = train(config, *shards, outputs(tmp_path))
    assert np.isfinite(result.history["loss"]).all()
    task = build_task(config, shards[2])  # a fresh task and optimizer, built as train() does
    task.compile(optimizer=build_optimizer(config.train, 8))
    task.optimizer.build(task.trainable_variables)
    assert task.backbone.compute_dtype == "float16"
    state = TrainingCheckpoint(str(tmp_path / "logs" / "checkpoints")).restore(task)
    assert state["batches"] == 8
    optimizer = task.optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    # Each step either applied its update or, on overflow, halved the scale from 2**15.
    halvings = math.log2(2.0 ** 15 / float(optimizer.dynamic_scale))
    assert int(optimizer.iterations) + halvings == 8
    trained = MaskedLM.from_preset(str(tmp_path / "preset"))
    for a, b in zip(task.trainable_weights, trained.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(shards, training_config, tmp_path):
    config = training_config(learning_rate=1e12, clip_norm=None, warmup_ratio=0.0,
                             train_steps=40, checkpoint_every_steps=2)
    with pytest.raises(TrainingDiverged, match=r"at step \d+.*last good checkpoint is step"):
        train(config, *shards, outputs(tmp_path))
    state_file = tmp_path / "logs" / "checkpoints" / "state.json"
    if state_file.exists():  # a checkpoint written before the blow-up holds finite numbers
        state = json.loads(state_file.read_text())
        assert all(np.isfinite(v) for v in state["history"].get("loss", []))


def test_shards_of_another_length_are_refused_before_training(shards, training_config, tmp_path):
    config = training_config()
    config = config.from_dict({**config.to_dict(), "data": {**config.to_dict()["data"],
                                                            "max_seq_length": 24}})
    with pytest.raises(ConfigError, match="input_ids has length 32 but data.max_seq_length=24"):
        train(config, *shards, outputs(tmp_path))


def test_missing_tfrecords_are_refused_before_training(shards, training_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        train(training_config(), str(tmp_path / "none" / "*"), shards[1], shards[2],
              outputs(tmp_path))


def test_continuing_from_a_preset_with_another_vocabulary_is_refused(shards, training_config, tmp_path, tiny_task):
    tiny_task.save_to_preset(str(tmp_path / "other"))
    with pytest.raises(ConfigError, match="vocabulary_size=15"):
        train(training_config(init_preset=str(tmp_path / "other")), *shards, outputs(tmp_path))


def test_lamb_with_accumulation_clipping_and_polynomial_decay_trains(shards, training_config, tmp_path):
    config = training_config(optimizer="lamb", gradient_accumulation_steps=2, clip_norm=0.5,
                             decay_power=2.0, learning_rate=5e-3, train_steps=20)
    result = train(config, *shards, outputs(tmp_path))
    assert np.isfinite(result.history["loss"]).all()
    report = tmp_path / "logs" / "training_report.png"
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.tokens_per_second and result.tokens_per_second > 0


def test_continued_training_starts_from_the_preset_weights(shards, training_config, tmp_path):
    first = train(training_config(train_steps=20), *shards, outputs(tmp_path / "a"))
    second = train(training_config(train_steps=4, init_preset=str(tmp_path / "a" / "preset"),
                                   learning_rate=1e-4),
                   *shards, outputs(tmp_path / "b"))
    assert second.history["loss"][0] < first.history["loss"][0]


def test_jit_compile_other_than_a_bool_is_refused_naming_the_field_and_the_values():
    with pytest.raises(ConfigError, match=r"train.jit_compile='fusible' is invalid: "
                                          r"expected true \(XLA\) or false"):
        TrainConfig(jit_compile="fusible")


def test_trainer_compiles_with_xla_by_default_and_keras_keeps_it_on_cpu(tiny_task):
    tiny_task.compile(optimizer="adam", **compile_options(TrainConfig()))
    assert tiny_task.jit_compile is True
    assert tiny_task.steps_per_execution == TrainConfig().steps_per_execution


def test_jit_compile_false_and_steps_per_execution_reach_model_compile(tiny_task):
    tiny_task.compile(optimizer="adam",
                      **compile_options(TrainConfig(jit_compile=False, steps_per_execution=3)))
    assert tiny_task.jit_compile is False
    assert tiny_task.steps_per_execution == 3
