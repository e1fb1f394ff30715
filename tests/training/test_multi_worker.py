"""Multi-worker training: two worker processes on localhost ports, as TF_CONFIG describes
them. One pair trains Cloze's masked LM through the trainer's entry point
(``train_script.py``); another runs ``MultiWorkerLoop`` with the trainer's callbacks on a
tiny model (this file run as a script), where worker 1 alone gets SIGTERM. Both pairs
start together, so the test waits for one cluster's start-up."""
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

# Cloze's modules are imported inside the functions: run as a loop worker, this file must
# create the strategy before anything runs a TensorFlow op.
TRAIN_SCRIPT = os.path.join(os.path.dirname(__file__), "train_script.py")
TIMEOUT = 240
# The loop pair trains this many steps; SIGTERM reaches worker 1 after SIGTERM_AFTER.
LOOP_STEPS = 8
SIGTERM_AFTER = 3


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cluster_env(ports, index):
    return {**os.environ, "TF_CONFIG": json.dumps({
        "cluster": {"worker": [f"localhost:{port}" for port in ports]},
        "task": {"type": "worker", "index": index}})}


def finish(process):
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return process.returncode, stdout, stderr


def multi_worker_config():
    """The shards fixture's data settings and a tiny model, with no dropout so one
    process can reproduce the workers' first step."""
    from cloze.config import PipelineConfig

    return PipelineConfig.from_dict({
        "data": {"max_seq_length": 32, "max_predictions_per_seq": 5},
        "model": {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32,
                  "max_sequence_length": 32, "dropout": 0.0},
        "train": {"batch_size": 8, "train_steps": 3, "learning_rate": 1e-3,
                  "distribution": "multi_worker", "jit_compile": False},
    })


@pytest.fixture(scope="module")
def clusters(shards, tmp_path_factory):
    """``(root, trainer runs, loop runs)``: exit code, stdout, stderr of each worker."""
    root = tmp_path_factory.mktemp("multi_worker")
    config = multi_worker_config()
    trainer_ports, loop_ports = free_ports(2), free_ports(2)
    trainer = [subprocess.Popen(
        [sys.executable, TRAIN_SCRIPT, config.to_json(), *shards, str(root / f"trainer{i}")],
        env=cluster_env(trainer_ports, i), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for i in range(2)]
    loop = [subprocess.Popen(
        [sys.executable, __file__, str(root / "loop")], env=cluster_env(loop_ports, i),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    return root, [finish(p) for p in trainer], [finish(p) for p in loop]


def test_both_trainer_workers_exit_0_with_two_replicas(clusters):
    _, trainer, _ = clusters
    for code, stdout, stderr in trainer:
        assert code == 0, stderr[-3000:]
        assert "replicas 2" in stdout


def test_only_the_chief_writes_the_model_preset_and_checkpoints(clusters):
    root, _, _ = clusters
    assert (root / "trainer0" / "preset" / "task.json").exists()
    assert (root / "trainer0" / "serving" / "saved_model.pb").exists()
    assert (root / "trainer0" / "logs" / "checkpoints" / "state.json").exists()
    assert not (root / "trainer1").exists()


def test_the_first_step_trains_on_the_global_batch_one_process_would_and_loss_falls(
        clusters, shards):
    import keras

    from cloze.training.dataset import masked_lm_dataset
    from cloze.training.trainer import build_task

    root, _, _ = clusters
    with open(root / "trainer0" / "logs" / "training_result.json") as f:
        loss = json.load(f)["history"]["loss"]
    config = multi_worker_config()
    keras.utils.set_random_seed(config.train.seed)
    task = build_task(config, shards[2])
    task.compile(jit_compile=False)
    first = masked_lm_dataset(shards[0], config.data, config.train.batch_size, training=True,
                              seed=config.train.seed, input_names=list(task.input)).take(1)
    # Each worker takes its half of the global batch and the two half-batch means are
    # averaged (as Keras does across replicas); evaluate weighs the halves equally too.
    halves = first.unbatch().batch(config.train.batch_size // 2)
    one_process, _ = task.evaluate(halves, verbose=0)
    np.testing.assert_allclose(loss[0], one_process, rtol=1e-6)
    assert loss[-1] < loss[0]


def test_distributed_evaluation_matches_one_process_on_the_chiefs_model(clusters, shards):
    from cloze.models import MaskedLM
    from cloze.training.dataset import masked_lm_dataset

    root, _, _ = clusters
    with open(root / "trainer0" / "logs" / "training_result.json") as f:
        result = json.load(f)
    task = MaskedLM.from_preset(str(root / "trainer0" / "preset"))
    task.compile(jit_compile=False)
    config = multi_worker_config()
    data = masked_lm_dataset(shards[1], config.data, config.train.batch_size, training=False,
                             input_names=list(task.input))
    loss, accuracy = task.evaluate(data, verbose=0)
    # Per-replica means again, over batches split in two: close, not bit-equal.
    np.testing.assert_allclose([result["eval_loss"], result["eval_accuracy"]],
                               [loss, accuracy], rtol=1e-3)


def test_sigterm_on_one_worker_stops_both_after_the_same_step(clusters):
    root, _, loop = clusters
    for code, stdout, stderr in loop:
        assert code == 0, stderr[-3000:]
    reports = [json.loads((root / "loop" / f"worker{i}.json").read_text()) for i in range(2)]
    assert [r["preempted"] for r in reports] == [True, True]
    assert [r["batches"] for r in reports] == [SIGTERM_AFTER, SIGTERM_AFTER]


def test_each_worker_writes_its_own_checkpoints(clusters):
    root, _, _ = clusters
    chief = json.loads((root / "loop" / "checkpoints" / "state.json").read_text())
    scratch = json.loads((root / "loop" / "scratch1" / "state.json").read_text())
    assert chief["batches"] == LOOP_STEPS and scratch["batches"] == LOOP_STEPS
    assert not (root / "loop" / "scratch0").exists()


def test_workers_resume_from_the_chiefs_checkpoint_with_identical_weights(clusters):
    root, _, _ = clusters
    resumed = [np.load(root / "loop" / f"resumed{i}.npz") for i in range(2)]
    uninterrupted = np.load(root / "loop" / "uninterrupted0.npz")
    assert resumed[0].files
    for name in resumed[0].files:
        np.testing.assert_array_equal(resumed[0][name], resumed[1][name])
        np.testing.assert_allclose(resumed[0][name], uninterrupted[name], rtol=1e-6, atol=1e-7)


def run_loop_worker(out):
    """One worker of the loop pair, with a tiny model and the trainer's callbacks: trains
    LOOP_STEPS steps uninterrupted; trains again, SIGTERM on worker 1 after SIGTERM_AFTER
    steps; resumes a fresh model from the chief's checkpoint to the end. Writes the
    weights (optimizer included) and where the preempted run stopped to ``out``."""
    import keras
    import tensorflow as tf

    from cloze.config import TrainConfig
    from cloze.training.callbacks import Resilience
    from cloze.training.checkpoints import TrainingCheckpoint
    from cloze.training.multi_worker_loop import MultiWorkerLoop
    from cloze.training.strategy import distribution_strategy, is_chief

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    strategy = distribution_strategy(TrainConfig(distribution="multi_worker"))

    def tiny_model():
        # Different seeds per worker: the strategy must start them equal. Every model of a
        # worker starts from the same weights.
        keras.utils.set_random_seed(index)
        with strategy.scope():
            inputs = {name: keras.Input((4,), name=name) for name in ("a", "b")}
            model = keras.Model(inputs, keras.layers.Dense(3)(
                keras.layers.Concatenate()(list(inputs.values()))))
            model.compile(optimizer="adam", jit_compile=False,
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.optimizer.build(model.trainable_variables)
        return model

    def save_weights(model, name):
        variables = [*model.variables, *model.optimizer.variables]  # in a stable order
        np.savez(os.path.join(out, f"{name}{index}.npz"),
                 **{str(i): v.numpy() for i, v in enumerate(variables)})

    class SigtermOnWorker1(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if index == 1 and batch + 1 == SIGTERM_AFTER:
                os.kill(os.getpid(), signal.SIGTERM)

    data = tf.data.Dataset.range(64).map(lambda i: (
        {"a": tf.fill([4], tf.cast(i, tf.float32) / 64), "b": tf.ones([4])}, i % 3))
    batches = data.batch(8).repeat()
    checkpoint = TrainingCheckpoint(
        os.path.join(out, "checkpoints"),
        None if is_chief(strategy) else os.path.join(out, f"scratch{index}"))

    def fit(model, start, callbacks):
        MultiWorkerLoop(model, strategy).fit(batches.skip(start), epochs=2,
                                             steps_per_epoch=LOOP_STEPS // 2,
                                             callbacks=callbacks, verbose=0)

    model = tiny_model()
    fit(model, 0, [])
    save_weights(model, "uninterrupted")

    model = tiny_model()
    resilience = Resilience(checkpoint, 0, LOOP_STEPS, LOOP_STEPS // 2, LOOP_STEPS, {})
    fit(model, 0, [SigtermOnWorker1(), resilience])
    with open(os.path.join(out, f"worker{index}.json"), "w") as f:
        json.dump({"preempted": resilience.preempted, "batches": resilience.batches}, f)
    strategy.reduce("SUM", tf.constant(0.0), axis=None)  # the chief's checkpoint is on disk

    model = tiny_model()
    state = checkpoint.restore(model)
    fit(model, state["batches"], [Resilience(checkpoint, state["batches"], LOOP_STEPS,
                                             LOOP_STEPS // 2, LOOP_STEPS, state["history"])])
    save_weights(model, "resumed")


if __name__ == "__main__":
    os.makedirs(sys.argv[1], exist_ok=True)
    run_loop_worker(sys.argv[1])
