"""Training under ``MultiWorkerMirroredStrategy``, which Keras 3.12's ``fit`` cannot run."""
import logging

import keras
import tensorflow as tf


class MultiWorkerLoop:
    """``fit`` and ``evaluate`` of a compiled, built model under ``MultiWorkerMirroredStrategy``.

    Keras 3.12's own ``fit``/``evaluate`` fail there before the first step:
    they all-reduce the first (nested) batch to build the model, which that
    strategy refuses, and reduce scalar logs over an axis 0 they lack
    (docs/training.md). This loop runs the model's own ``train_step`` and
    ``test_step`` in ``strategy.run``, averages the step's logs over all
    replicas (so every worker sees the same loss and stops at the same step),
    and drives the same callbacks with the same calls as ``fit``. Batches
    are global: each worker reads the whole input and keeps its share of
    every batch (``AutoShardPolicy.DATA``), so the workers together train
    on the batches one process would, in the same order.

    Args:
        model: a compiled ``keras.Model`` whose variables, optimizer
            included, were built under ``strategy.scope()``.
        strategy: the ``MultiWorkerMirroredStrategy``.

    Example (in each worker; any strategy works, here the default one):
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    >>> model.optimizer.build(model.trainable_variables)
    >>> data = tf.data.Dataset.from_tensors(([[1.0, 2.0]], [[1.0]]))
    >>> loop = MultiWorkerLoop(model, tf.distribute.get_strategy())
    >>> loop.fit(data.repeat(), epochs=1, steps_per_epoch=2, verbose=0)
    >>> list(loop.evaluate(data, return_dict=True))
    ['loss']
    """

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy):
        if model.jit_compile:
            # Untried: XLA over a step whose optimizer all-reduces across processes.
            logging.warning("jit_compile does not apply under MultiWorkerMirroredStrategy; "
                            "each step runs as a plain tf.function")
        self.model = model
        self.strategy = strategy
        self._train_step = self._distributed(model.train_step)
        self._test_step = self._distributed(model.test_step)

    def _distributed(self, step):
        @tf.function
        def run(batch):
            logs = self.strategy.run(step, args=(batch,))
            return {key: self.strategy.reduce("MEAN", value, axis=None)
                    for key, value in logs.items()}
        return run

    def _batches(self, dataset: tf.data.Dataset):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def fit(self, x: tf.data.Dataset, epochs: int, steps_per_epoch: int, callbacks=(),
            validation_data=None, validation_steps=None, verbose=2):
        """Trains ``epochs`` x ``steps_per_epoch`` batches of the repeated dataset ``x``,
        evaluating on ``validation_data`` after each epoch."""
        callbacks = keras.callbacks.CallbackList(
            list(callbacks), add_history=True, add_progbar=verbose != 0, verbose=verbose,
            epochs=epochs, steps=steps_per_epoch, model=self.model)
        batches = iter(self._batches(x))
        self.model.stop_training = False
        callbacks.on_train_begin()
        logs = {}
        for epoch in range(epochs):
            self.model.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            for step in range(steps_per_epoch):
                callbacks.on_train_batch_begin(step)
                callbacks.on_train_batch_end(step, self._train_step(next(batches)))
                if self.model.stop_training:
                    break
            logs = self.model.get_metrics_result()
            if validation_data is not None:
                validation = self.evaluate(validation_data, steps=validation_steps,
                                           return_dict=True)
                logs.update({f"val_{key}": value for key, value in validation.items()})
            callbacks.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                break
        callbacks.on_train_end(logs)

    def evaluate(self, x: tf.data.Dataset, steps=None, verbose=0, return_dict=False):
        """The model's metrics over the dataset ``x`` (its first ``steps`` batches, if
        given): a dict, or a list of the loss and then the other metrics by name."""
        callbacks = keras.callbacks.CallbackList(add_progbar=verbose != 0, verbose=verbose,
                                                 epochs=1, steps=steps, model=self.model)
        self.model.reset_metrics()
        callbacks.on_test_begin()
        for step, batch in enumerate(self._batches(x.take(steps) if steps else x)):
            callbacks.on_test_batch_begin(step)
            callbacks.on_test_batch_end(step, self._test_step(batch))
        logs = self.model.get_metrics_result()
        callbacks.on_test_end(logs)
        if return_dict:
            return logs
        return [logs["loss"], *(logs[name] for name in sorted(logs) if name != "loss")]
