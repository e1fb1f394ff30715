"""Picks the tf.distribute strategy a ``TrainConfig`` asks for (``multi_worker_loop``
trains under ``MultiWorkerMirroredStrategy``, which Keras 3.12's ``fit`` cannot run)."""
import os

import tensorflow as tf

from cloze.config import ConfigError, TrainConfig


def distribution_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The strategy to build and train the model under.

    * ``none``: the default strategy (one device).
    * ``mirrored``: synchronous data parallelism over all local GPUs, or over
      the logical CPU devices when there is no GPU (how the tests run it).
    * ``multi_worker``: ``MultiWorkerMirroredStrategy`` over the cluster that
      the ``TF_CONFIG`` environment variable describes (all local GPUs, or
      the CPU, of every worker); trained with ``MultiWorkerLoop``.
    * ``tpu``: ``TPUStrategy`` on ``config.tpu_address``.
    * ``auto``: ``mirrored`` when there are several GPUs, else ``none``.

    Example:
    >>> from cloze.config import TrainConfig
    >>> type(distribution_strategy(TrainConfig(distribution="none"))).__name__
    '_DefaultDistributionStrategy'
    """
    kind = config.distribution
    if kind == "auto":
        kind = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        devices = (tf.config.list_logical_devices("GPU")
                   or tf.config.list_logical_devices("CPU"))
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if kind == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            # Without it the strategy quietly trains one worker alone.
            raise ConfigError(
                "train.distribution='multi_worker' needs the TF_CONFIG environment variable, "
                "e.g. {\"cluster\": {\"worker\": [\"host0:port\", \"host1:port\"]}, "
                "\"task\": {\"type\": \"worker\", \"index\": 0}} on the first worker; it is "
                "not set.")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise RuntimeError(
                "train.distribution='multi_worker' must create its strategy before this "
                "process runs any TensorFlow op, but one already ran (a module-level "
                "tf.constant, a tf.config call, or earlier TensorFlow work in the same "
                "process, such as a TFX component); start training in a fresh process, "
                f"e.g. `cloze train`. TensorFlow said: {error}") from error
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans worker processes (``MultiWorkerLoop`` trains under it)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, except on the workers of a
    multi-worker cluster other than the chief (the ``chief`` task, or else worker 0)."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    return (resolver.task_type in (None, "chief")
            or (resolver.task_type == "worker" and resolver.task_id == 0
                and "chief" not in resolver.cluster_spec().as_dict()))
