"""tf.data input pipeline over the masked TFRecord shards."""
import tensorflow as tf

from cloze.config import DataConfig
from cloze.data.features import feature_spec


def to_model_inputs(features: dict):
    """google-research/bert feature names to ``(inputs, labels, sample_weights)``."""
    inputs = {
        "token_ids": tf.cast(features["input_ids"], tf.int32),
        "segment_ids": tf.cast(features["segment_ids"], tf.int32),
        "padding_mask": tf.cast(features["input_mask"], tf.int32),
        "mask_positions": tf.cast(features["masked_lm_positions"], tf.int32),
    }
    return inputs, tf.cast(features["masked_lm_ids"], tf.int32), features["masked_lm_weights"]


def masked_lm_dataset(file_pattern, config: DataConfig, batch_size: int, training: bool,
                      seed: int = 0) -> tf.data.Dataset:
    """Batches of ``(inputs, labels, sample_weights)`` with static shapes.

    Training data is shuffled (seeded) and repeated; eval data is read once in
    order. Shards are read in parallel and batches prefetched.

    Example:
    >>> from cloze.config import DataConfig
    >>> ds = masked_lm_dataset("/no/such/*.gz", DataConfig(), 8, training=False)
    Traceback (most recent call last):
    ...
    FileNotFoundError: no TFRecord files match /no/such/*.gz
    """
    files = tf.io.gfile.glob(file_pattern)
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern}")
    num_files = len(files)
    files = tf.data.Dataset.from_tensor_slices(sorted(files))
    if training:
        files = files.shuffle(num_files, seed=seed)
    records = files.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training:
        records = records.shuffle(10_000, seed=seed).repeat()
    spec = feature_spec(config.max_seq_length, config.max_predictions_per_seq)
    return (records.batch(batch_size, drop_remainder=training)
            .map(lambda r: to_model_inputs(tf.io.parse_example(r, spec)),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
