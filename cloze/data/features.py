"""The TFRecord formats of the data stage: document records and masked-LM examples.

Masked-LM examples use google-research/bert's feature names and types, so
tools and checkpoints that expect BERT's pretraining data read them as they are:

============================  =======  ===========================  ======================
feature                       type     length                       meaning
============================  =======  ===========================  ======================
``input_ids``                 int64    ``max_seq_length``           token ids, 0-padded
``input_mask``                int64    ``max_seq_length``           1 for real tokens
``segment_ids``               int64    ``max_seq_length``           0 (one segment)
``masked_lm_positions``       int64    ``max_predictions_per_seq``  chosen positions
``masked_lm_ids``             int64    ``max_predictions_per_seq``  original ids there
``masked_lm_weights``         float32  ``max_predictions_per_seq``  1.0 real, 0.0 padding
``next_sentence_labels``      int64    1                            0 (no NSP task)
============================  =======  ===========================  ======================

Padding id and position are 0 (``[PAD]``); ``masked_lm_weights`` tells them apart.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from cloze.data.corpus import Document

# The document records written by ingestion: a stable id and the text, both UTF-8.
DOCUMENT_FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
}


def _masked_lm_layout(max_seq_length: int, max_predictions_per_seq: int
                      ) -> Dict[str, Tuple[tf.DType, int]]:
    """Feature name -> (dtype, fixed length), in BERT's order."""
    return {
        "input_ids": (tf.int64, max_seq_length),
        "input_mask": (tf.int64, max_seq_length),
        "segment_ids": (tf.int64, max_seq_length),
        "masked_lm_positions": (tf.int64, max_predictions_per_seq),
        "masked_lm_ids": (tf.int64, max_predictions_per_seq),
        "masked_lm_weights": (tf.float32, max_predictions_per_seq),
        "next_sentence_labels": (tf.int64, 1),
    }


def make_example(input_ids: Sequence[int], positions: Sequence[int], labels: Sequence[int],
                 max_seq_length: int, max_predictions_per_seq: int) -> tf.train.Example:
    """One masked-LM ``tf.train.Example``, padded to the fixed lengths.

    Args:
        input_ids: the masked sequence, ``[CLS]`` and ``[SEP]`` included.
        positions: the positions to predict.
        labels: the original token ids at ``positions``.

    Raises:
        ValueError: a sequence is longer than its fixed length, or
            ``positions`` and ``labels`` differ in length.

    Example:
    >>> example = make_example([2, 4, 11, 3], [1], [10], max_seq_length=6,
    ...                        max_predictions_per_seq=2)
    >>> features = example.features.feature
    >>> list(features["input_mask"].int64_list.value)
    [1, 1, 1, 1, 0, 0]
    >>> list(features["masked_lm_weights"].float_list.value)
    [1.0, 0.0]
    """
    num_tokens, num_predictions = len(input_ids), len(positions)
    if num_tokens > max_seq_length:
        raise ValueError(f"input_ids has {num_tokens} tokens; expected at most "
                         f"data.max_seq_length={max_seq_length}")
    if num_predictions > max_predictions_per_seq:
        raise ValueError(f"positions has {num_predictions} entries; expected at most "
                         f"data.max_predictions_per_seq={max_predictions_per_seq}")
    if len(labels) != num_predictions:
        raise ValueError(f"labels has {len(labels)} entries; expected one per position, "
                         f"{num_predictions}")
    values = {
        "input_ids": input_ids,
        "input_mask": np.ones(num_tokens),
        "segment_ids": [],
        "masked_lm_positions": positions,
        "masked_lm_ids": labels,
        "masked_lm_weights": np.ones(num_predictions),
        "next_sentence_labels": [0],
    }
    feature = {}
    for name, (dtype, length) in _masked_lm_layout(max_seq_length,
                                                   max_predictions_per_seq).items():
        padded = np.zeros(length, dtype=dtype.as_numpy_dtype)
        padded[:len(values[name])] = values[name]
        feature[name] = _feature(padded)
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _feature(values: np.ndarray) -> tf.train.Feature:
    if values.dtype == np.float32:
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def feature_spec(max_seq_length: int, max_predictions_per_seq: int
                 ) -> Dict[str, tf.io.FixedLenFeature]:
    """The ``tf.io.parse_example`` spec of masked-LM examples.

    Example:
    >>> spec = feature_spec(128, 20)
    >>> spec["masked_lm_weights"]
    FixedLenFeature(shape=[20], dtype=tf.float32, default_value=None)
    """
    return {name: tf.io.FixedLenFeature([length], dtype)
            for name, (dtype, length) in _masked_lm_layout(max_seq_length,
                                                          max_predictions_per_seq).items()}


def masked_lm_schema(max_seq_length: int, max_predictions_per_seq: int) -> schema_pb2.Schema:
    """The TFMD schema of masked-LM examples: types, fixed shapes, presence and value ranges.

    Example:
    >>> schema = masked_lm_schema(128, 20)
    >>> [(f.name, f.shape.dim[0].size) for f in schema.feature][:2]
    [('input_ids', 128), ('input_mask', 128)]
    """
    int_ranges = {  # feature -> (min, max); None: no upper bound known here
        "input_ids": (0, None),
        "input_mask": (0, 1),
        "segment_ids": (0, 1),
        "masked_lm_positions": (0, max_seq_length - 1),
        "masked_lm_ids": (0, None),
        "next_sentence_labels": (0, 1),
    }
    schema = schema_pb2.Schema()
    for name, (dtype, length) in _masked_lm_layout(max_seq_length,
                                                   max_predictions_per_seq).items():
        feature = schema.feature.add(name=name)
        feature.shape.dim.add(size=length)
        feature.presence.min_fraction = 1.0
        if dtype == tf.float32:
            feature.type = schema_pb2.FLOAT
            feature.float_domain.min, feature.float_domain.max = 0.0, 1.0
        else:
            feature.type = schema_pb2.INT
            low, high = int_ranges[name]
            feature.int_domain.min = low
            if high is not None:
                feature.int_domain.max = high
    return schema


def make_document_example(doc: Document) -> tf.train.Example:
    """The document record of ``doc``: ``id`` and ``text`` as UTF-8 bytes.

    Example:
    >>> serialized = make_document_example(Document("a.txt:1", "Héllo.")).SerializeToString()
    >>> parse_document_example(serialized)
    Document(id='a.txt:1', text='Héllo.')
    """
    return tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))
        for name, value in (("id", doc.id), ("text", doc.text))
    }))


def parse_document_example(serialized: bytes) -> Document:
    """The ``Document`` of a serialized document record (no TensorFlow graph involved).

    Raises:
        ValueError: the record lacks ``id`` or ``text`` as a single bytes value.
    """
    feature = tf.train.Example.FromString(serialized).features.feature
    values = {}
    for name in DOCUMENT_FEATURES:
        if name not in feature or len(feature[name].bytes_list.value) != 1:
            raise ValueError(f"document record has no single bytes feature {name!r} "
                             f"(features: {', '.join(sorted(feature)) or 'none'}); "
                             f"expected {', '.join(DOCUMENT_FEATURES)}")
        values[name] = feature[name].bytes_list.value[0].decode("utf-8")
    return Document(**values)
