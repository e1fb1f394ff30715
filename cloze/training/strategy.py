"""Picks the tf.distribute strategy a ``TrainConfig`` asks for."""
import tensorflow as tf

from cloze.config import ConfigError, TrainConfig

# Two workers on localhost ports with TF_CONFIG fail before the first step, in two
# places of keras/src/backend/tensorflow/trainer.py (Keras 3.12.4, TF 2.16.2).
MULTI_WORKER_UNSUPPORTED = (
    "train.distribution='multi_worker' does not run on Keras 3.12's TensorFlow trainer: "
    "fit() reduces the first batch (a dict of per-replica tensors) with "
    "strategy.reduce('MEAN'), which MultiWorkerMirroredStrategy refuses for nested "
    "values, and its per-step log reduction asks that strategy for a mean over axis 0 "
    "of scalar losses. Use 'mirrored' (all GPUs of one machine) instead.")


def distribution_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The strategy to build and train the model under.

    * ``none``: the default strategy (one device).
    * ``mirrored``: synchronous data parallelism over all local GPUs, or over
      the logical CPU devices when there is no GPU (how the tests run it).
    * ``multi_worker``: refused with a ``ConfigError`` before any cluster is
      formed, because Keras 3.12's TensorFlow trainer cannot run
      ``MultiWorkerMirroredStrategy`` (see ``MULTI_WORKER_UNSUPPORTED``).
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
        raise ConfigError(MULTI_WORKER_UNSUPPORTED)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
