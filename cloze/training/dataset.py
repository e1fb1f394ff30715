"""tf.data input pipeline over the TFRecord shards of the data stage.

Reads either feature-name convention (google-research/bert's ``input_ids`` /
``segment_ids`` or Model Garden v2's ``input_word_ids`` / ``input_type_ids``).
Records written with static masks are used as they are; records written
without masks get dynamic masks in the pipeline, with the same rule as Beam.
"""
import dataclasses
from typing import Optional

import tensorflow as tf

from cloze.config import DataConfig

# Model input -> (BERT name, Model Garden v2 name).
SEQUENCE_FEATURES = {
    "token_ids": ("input_ids", "input_word_ids"),
    "padding_mask": ("input_mask", "input_mask"),
    "segment_ids": ("segment_ids", "input_type_ids"),
}
MASK_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")


@dataclasses.dataclass(frozen=True)
class RecordLayout:
    """What the shards hold: which naming convention, and whether masks are written."""

    model_garden_names: bool
    static_masks: bool

    @classmethod
    def of(cls, files) -> "RecordLayout":
        """Reads the layout off the first record of ``files``."""
        for record in tf.data.TFRecordDataset(files[:1], compression_type="GZIP").take(1):
            keys = set(tf.train.Example.FromString(record.numpy()).features.feature)
            return cls(model_garden_names="input_word_ids" in keys,
                       static_masks=set(MASK_FEATURES) <= keys)
        raise ValueError(f"{files[0]} holds no records")

    def feature_spec(self, config: DataConfig) -> dict:
        names = [pair[int(self.model_garden_names)] for pair in SEQUENCE_FEATURES.values()]
        spec = {name: tf.io.FixedLenFeature([config.max_seq_length], tf.int64) for name in names}
        if self.static_masks:
            length = config.max_predictions_per_seq
            spec["masked_lm_positions"] = tf.io.FixedLenFeature([length], tf.int64)
            spec["masked_lm_ids"] = tf.io.FixedLenFeature([length], tf.int64)
            spec["masked_lm_weights"] = tf.io.FixedLenFeature([length], tf.float32)
        return spec

    def to_model_inputs(self, features: dict, mask_generator=None):
        """Parsed features to ``(inputs, labels, sample_weights)``."""
        inputs = {key: tf.cast(features[names[int(self.model_garden_names)]], tf.int32)
                  for key, names in SEQUENCE_FEATURES.items()}
        if self.static_masks:
            inputs["mask_positions"] = tf.cast(features["masked_lm_positions"], tf.int32)
            return (inputs, tf.cast(features["masked_lm_ids"], tf.int32),
                    features["masked_lm_weights"])
        masked = mask_generator(inputs["token_ids"])
        inputs["token_ids"] = masked["token_ids"]
        inputs["mask_positions"] = masked["mask_positions"]
        return inputs, masked["mask_ids"], masked["mask_weights"]


def matching_files(file_pattern: str) -> list:
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern}")
    return files


def masked_lm_dataset(file_pattern, config: DataConfig, batch_size: int, training: bool,
                      seed: int = 0, skip_batches: int = 0, mask_generator=None,
                      input_names=None) -> tf.data.Dataset:
    """Batches of ``(inputs, labels, sample_weights)`` with static shapes.

    Training data is shuffled (seeded, so the order is the same every run) and
    repeated, and ``skip_batches`` resumes it where an interrupted run stopped;
    eval data is read once in order. Shards are read in parallel, batches
    prefetched. Unmasked records need ``mask_generator`` (a
    ``MaskedLMMaskGenerator``). ``input_names`` keeps only those model inputs
    (a backbone without segment embeddings takes no ``segment_ids``).

    Example:
    >>> from cloze.config import DataConfig
    >>> ds = masked_lm_dataset("/no/such/*.gz", DataConfig(), 8, training=False)
    Traceback (most recent call last):
    ...
    FileNotFoundError: no TFRecord files match /no/such/*.gz
    """
    files = matching_files(file_pattern)
    layout = RecordLayout.of(files)
    if not layout.static_masks and mask_generator is None:
        raise ValueError(f"{file_pattern} holds unmasked sequences: dynamic masking needs a "
                         f"mask generator")
    records = tf.data.Dataset.from_tensor_slices(files)
    if training:
        records = records.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = records.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=min(4, len(files)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training:
        records = records.shuffle(10_000, seed=seed).repeat()
    batches = records.batch(batch_size, drop_remainder=training)
    if skip_batches:
        batches = batches.skip(skip_batches)
    spec = layout.feature_spec(config)

    def model_batch(records):
        inputs, labels, weights = layout.to_model_inputs(tf.io.parse_example(records, spec),
                                                         mask_generator)
        if input_names is not None:
            inputs = {name: inputs[name] for name in input_names}
        return inputs, labels, weights

    return (batches.map(model_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


# What the data stage writes by default: BERT's names with static masks.
BERT_STATIC_MASKS = RecordLayout(model_garden_names=False, static_masks=True)


def to_model_inputs(features: dict):
    """Parsed google-research/bert features to ``(inputs, labels, sample_weights)``."""
    return BERT_STATIC_MASKS.to_model_inputs(features)
