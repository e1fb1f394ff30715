"""Picks the tf.distribute strategy a ``TrainConfig`` asks for."""
import json
import os

import tensorflow as tf

from cloze.config import ConfigError, TrainConfig


def distribution_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The strategy to build and train the model under.

    * ``none``: the default strategy (one device).
    * ``mirrored``: synchronous data parallelism over all local GPUs, or over
      the logical CPU devices when there is no GPU (how the tests run it).
    * ``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster comes from
      the ``TF_CONFIG`` environment variable, which must be set.
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
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("train.distribution='multi_worker' needs the TF_CONFIG "
                              "environment variable (cluster spec and this task's index).")
        json.loads(os.environ["TF_CONFIG"])
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
