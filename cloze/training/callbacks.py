"""Callbacks of the training loop: position, checkpoints, preemption, divergence, speed."""
import math
import signal
import time

import keras
import tensorflow as tf

from cloze.training.strategy import is_multi_worker


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last checkpoint."""


class TrainingPreempted(RuntimeError):
    """SIGTERM arrived; a checkpoint was written and the same command resumes from it."""


# What a process stopped by SIGTERM exits with (128 + 15), so an orchestrator reruns it.
PREEMPTED_EXIT_CODE = 143


class Resilience(keras.callbacks.Callback):
    """Tracks the global batch, checkpoints, stops on SIGTERM, NaN loss or the last step.

    Batches are counted from ``start`` (where a resumed run picks up) so the
    position saved with each checkpoint is where the data pipeline must skip to.
    A non-finite loss raises ``TrainingDiverged`` before anything is saved, so
    the last checkpoint on disk is always a good one.
    Under multi-worker training a SIGTERM that reaches any worker stops them all
    after the same step (a worker left alone would wait for the others forever).

    Args:
        checkpoint: a ``TrainingCheckpoint``.
        start: batches already trained.
        total: batches to train in all.
        steps_per_epoch: batches per Keras epoch (one log point).
        every: checkpoint cadence in batches.
        history: per-log-point history so far, extended in place.
    """

    def __init__(self, checkpoint, start, total, steps_per_epoch, every, history):
        super().__init__()
        self.checkpoint = checkpoint
        self.batches = start
        self.total = total
        self.steps_per_epoch = steps_per_epoch
        self.every = every
        self.history = history
        self._epoch_base = start
        self._last_saved = start
        self._sigterm = False
        self._previous_handler = None

    def on_train_begin(self, logs=None):
        try:
            self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread: the orchestrator owns signals there
            self._previous_handler = None

    def on_train_end(self, logs=None):
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)

    def _on_sigterm(self, signum, frame):
        self._sigterm = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_base = self.batches

    def on_train_batch_end(self, batch, logs=None):
        self.batches = self._epoch_base + batch + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            last = self.checkpoint.state()
            raise TrainingDiverged(
                f"loss became {float(loss)} at step {self.batches}; stopped. The last good "
                f"checkpoint is step {last['batches'] if last else 0} in "
                f"{self.checkpoint.directory}: lower train.learning_rate or set "
                f"train.clip_norm, then rerun to resume from it.")
        self._sigterm = self._on_any_worker(self._sigterm)
        if self._sigterm:
            self._save()
            self.model.stop_training = True
        elif self.batches - self._last_saved >= self.every or self.batches >= self.total:
            self._save()
        if self.batches >= self.total:
            self.model.stop_training = True

    def _on_any_worker(self, flag: bool) -> bool:
        strategy = self.model.distribute_strategy
        if not is_multi_worker(strategy):
            return flag
        # A value on every local replica (a worker may have several GPUs), summed over all.
        flags = strategy.experimental_distribute_values_from_function(
            lambda _: tf.constant(float(flag)))
        return bool(strategy.reduce("SUM", flags, axis=None) > 0)

    def on_epoch_end(self, epoch, logs=None):
        if self.batches % self.steps_per_epoch and self.batches < self.total:
            return  # a preempted, partial epoch: its averages are not a log point
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("step", []).append(self.batches)
        self._save()

    def _save(self):
        self.checkpoint.save(self.model, self.batches, self.history)
        self._last_saved = self.batches

    @property
    def preempted(self) -> bool:
        return self._sigterm


class Throughput(keras.callbacks.Callback):
    """Adds the learning rate and token positions per second to the logs Keras prints."""

    def __init__(self, tokens_per_batch: int):
        super().__init__()
        self.tokens_per_batch = tokens_per_batch
        self.tokens_per_second = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        rate = self.tokens_per_batch * self._batches / max(time.perf_counter() - self._start, 1e-9)
        self.tokens_per_second.append(rate)
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))
            logs["tokens_per_second"] = rate
