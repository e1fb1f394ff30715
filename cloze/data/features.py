"""The TFRecord formats of the data stage: document records and masked-LM examples.

Masked-LM examples use google-research/bert's feature names and types, so
tools and checkpoints that expect BERT's pretraining data read them as they are:

============================  =======  ===========================  ======================
feature                       type     length                       meaning
============================  =======  ===========================  ======================
``input_ids``                 int64    ``max_seq_length``           token ids, 0-padded
``input_mask``                int64    ``max_seq_length``           1 for real tokens
``segment_ids``               int64    ``max_seq_length``           0 on A, 1 on B
``masked_lm_positions``       int64    ``max_predictions_per_seq``  chosen positions
``masked_lm_ids``             int64    ``max_predictions_per_seq``  original ids there
``masked_lm_weights``         float32  ``max_predictions_per_seq``  1.0 real, 0.0 padding
``next_sentence_labels``      int64    1                            pair label (0 unpaired)
============================  =======  ===========================  ======================

Padding id and position are 0 (``[PAD]``); ``masked_lm_weights`` tells them apart.
With ``feature_names="model_garden"``, ``input_ids`` is ``input_word_ids`` and
``segment_ids`` is ``input_type_ids`` (TF Model Garden's v2 names). With
``masked=False`` (``DataConfig.masking="none"``) the three ``masked_lm_*``
features are left out: the trainer masks on the fly.
"""
from __future__ import annotations

import functools
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from cloze.data.corpus import Document

# The document records written by ingestion: a stable id and the text, both UTF-8.
DOCUMENT_FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
}


# Canonical (google-research/bert) feature name -> its name in each naming scheme.
FEATURE_NAMES = {
    "bert": {},
    "model_garden": {"input_ids": "input_word_ids", "segment_ids": "input_type_ids"},
}
_MASKED_LM_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
_FLOAT_FEATURES = ("masked_lm_weights",)
_BYTES_LIST, _FLOAT_LIST, _INT64_LIST = b"\x0a", b"\x12", b"\x1a"  # Feature's oneof tags


def _masked_lm_layout(max_seq_length: int, max_predictions_per_seq: int,
                      feature_names: str = "bert", masked: bool = True
                      ) -> Dict[str, Tuple[tf.DType, int]]:
    """Canonical feature name -> (dtype, fixed length), in BERT's order."""
    layout = {
        "input_ids": (tf.int64, max_seq_length),
        "input_mask": (tf.int64, max_seq_length),
        "segment_ids": (tf.int64, max_seq_length),
        "masked_lm_positions": (tf.int64, max_predictions_per_seq),
        "masked_lm_ids": (tf.int64, max_predictions_per_seq),
        "masked_lm_weights": (tf.float32, max_predictions_per_seq),
        "next_sentence_labels": (tf.int64, 1),
    }
    if not masked:
        layout = {name: value for name, value in layout.items()
                  if name not in _MASKED_LM_FEATURES}
    if feature_names not in FEATURE_NAMES:
        raise ValueError(f"feature_names={feature_names!r}; expected one of "
                         f"{', '.join(FEATURE_NAMES)}")
    return layout


def _stored_name(name: str, feature_names: str) -> str:
    return FEATURE_NAMES[feature_names].get(name, name)


def make_example(input_ids: Sequence[int], positions: Optional[Sequence[int]],
                 labels: Optional[Sequence[int]], max_seq_length: int,
                 max_predictions_per_seq: int, segment_ids: Sequence[int] = (),
                 next_sentence_label: int = 0, feature_names: str = "bert"
                 ) -> tf.train.Example:
    """One masked-LM ``tf.train.Example``, padded to the fixed lengths.

    Args:
        input_ids: the masked sequence, ``[CLS]`` and ``[SEP]`` included.
        positions: the positions to predict; None writes an unmasked example
            (no ``masked_lm_*`` features).
        labels: the original token ids at ``positions`` (None with it).
        segment_ids: 0 or 1 per token; empty means all 0.
        next_sentence_label: the pair label.
        feature_names: ``"bert"`` or ``"model_garden"`` (see the module).

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
    >>> sorted(make_example([2, 3], None, None, 4, 2, feature_names="model_garden")
    ...        .features.feature)
    ['input_mask', 'input_type_ids', 'input_word_ids', 'next_sentence_labels']
    """
    masked = positions is not None
    positions = [] if positions is None else positions
    labels = [] if labels is None else labels
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
        "segment_ids": segment_ids,
        "masked_lm_positions": positions,
        "masked_lm_ids": labels,
        "masked_lm_weights": np.ones(num_predictions),
        "next_sentence_labels": [next_sentence_label],
    }
    example = tf.train.Example()
    features = example.features.feature
    for name, (dtype, length) in _masked_lm_layout(max_seq_length, max_predictions_per_seq,
                                                   feature_names, masked).items():
        padded = np.zeros(length, dtype=dtype.as_numpy_dtype)
        padded[:len(values[name])] = values[name]
        # Filling the message in place, from Python lists, is several times faster
        # than building Feature messages from numpy arrays and copying them in.
        feature = features[_stored_name(name, feature_names)]
        target = feature.float_list if dtype == tf.float32 else feature.int64_list
        target.value.extend(padded.tolist())
    return example


def serialize_examples(features: Dict[str, np.ndarray], feature_names: str = "bert"
                       ) -> List[bytes]:
    """Serialized masked-LM examples of a whole batch, without building proto objects.

    The bytes are those of ``make_example(...).SerializeToString(deterministic=True)``
    for each row (features in key order, int64 as packed varints, float32 as
    packed little-endian), encoded with numpy over the batch at once.

    Args:
        features: canonical feature name (see ``feature_spec``) -> a
            ``(batch, length)`` array, already padded; the float features
            (``masked_lm_weights``) are written as float32, the rest as int64.
        feature_names: ``"bert"`` or ``"model_garden"`` (see the module).

    Example:
    >>> batch = {"input_ids": np.array([[2, 7, 3, 0]]), "input_mask": np.array([[1, 1, 1, 0]]),
    ...          "segment_ids": np.zeros((1, 4), np.int64),
    ...          "next_sentence_labels": np.zeros((1, 1), np.int64)}
    >>> serialize_examples(batch) == [
    ...     make_example([2, 7, 3], None, None, 4, 1).SerializeToString(deterministic=True)]
    True
    """
    stored = sorted((_stored_name(name, feature_names).encode("utf-8"), name)
                    for name in features)
    columns = []
    for key, name in stored:
        values = features[name]
        if name in _FLOAT_FEATURES:
            payload = np.ascontiguousarray(values, dtype="<f4")
            offsets = (np.arange(len(payload) + 1) * payload.shape[1] * 4).tolist()
            columns.append((key, _FLOAT_LIST, payload.tobytes(), offsets))
        else:
            columns.append((key, _INT64_LIST, *_varints(values)))
    records = []
    for row in range(len(features[stored[0][1]])):
        parts = []
        for key, kind, data, offsets in columns:
            start, end = offsets[row], offsets[row + 1]
            parts.append(_entry_prefix(key, kind, end - start))
            parts.append(data[start:end])
        body = b"".join(parts)
        records.append(b"\x0a" + _varint(len(body)) + body)
    return records


def _varints(values: np.ndarray) -> Tuple[bytes, List[int]]:
    """The rows of an int64 ``(batch, length)`` array as protobuf varints, and the row offsets."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and 0 <= values.min() and values.max() < 0x80:  # one byte each, as is
        return values.astype(np.uint8).tobytes(), (np.arange(len(values) + 1)
                                                   * values.shape[1]).tolist()
    values = values.astype(np.uint64)
    width = max(1, (int(values.max(initial=0)).bit_length() + 6) // 7)
    shifts = np.uint64(7) * np.arange(width, dtype=np.uint64)
    groups = values[..., None] >> shifts
    # A value takes one byte per 7 bits, at least one; the continuation bit marks all but the last.
    sizes = 1 + (groups[..., 1:] != 0).sum(axis=-1)
    index = np.arange(width)
    encoded = ((groups & np.uint64(0x7F)) | np.where(index < sizes[..., None] - 1,
                                                     np.uint64(0x80), np.uint64(0)))
    data = encoded.astype(np.uint8)[index < sizes[..., None]].tobytes()
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(sizes.sum(axis=1), out=offsets[1:])
    return data, offsets.tolist()


@functools.lru_cache(maxsize=1 << 16)
def _entry_prefix(key: bytes, kind: bytes, payload_size: int) -> bytes:
    """Everything of one ``Features.feature`` map entry before its values.

    The values are one bytes value (``_BYTES_LIST``) or packed numbers, which
    are left out altogether when there are none.
    """
    values = b"\x0a" + _varint(payload_size) if payload_size or kind == _BYTES_LIST else b""
    feature = kind + _varint(len(values) + payload_size) + values
    entry = (b"\x0a" + _varint(len(key)) + key
             + b"\x12" + _varint(len(feature) + payload_size) + feature)
    return b"\x0a" + _varint(len(entry) + payload_size) + entry


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def feature_spec(max_seq_length: int, max_predictions_per_seq: int,
                 feature_names: str = "bert", masked: bool = True
                 ) -> Dict[str, tf.io.FixedLenFeature]:
    """The ``tf.io.parse_example`` spec of masked-LM examples (arguments as ``make_example``).

    Example:
    >>> spec = feature_spec(128, 20)
    >>> spec["masked_lm_weights"]
    FixedLenFeature(shape=[20], dtype=tf.float32, default_value=None)
    >>> list(feature_spec(128, 20, "model_garden", masked=False))
    ['input_word_ids', 'input_mask', 'input_type_ids', 'next_sentence_labels']
    """
    return {_stored_name(name, feature_names): tf.io.FixedLenFeature([length], dtype)
            for name, (dtype, length) in _masked_lm_layout(
                max_seq_length, max_predictions_per_seq, feature_names, masked).items()}


def masked_lm_schema(max_seq_length: int, max_predictions_per_seq: int,
                     feature_names: str = "bert", masked: bool = True,
                     vocabulary_size: Optional[int] = None) -> schema_pb2.Schema:
    """The TFMD schema of masked-LM examples: types, fixed shapes, presence and value ranges.

    With ``vocabulary_size``, token ids are bounded by it.

    Example:
    >>> schema = masked_lm_schema(128, 20)
    >>> [(f.name, f.shape.dim[0].size) for f in schema.feature][:2]
    [('input_ids', 128), ('input_mask', 128)]
    >>> masked_lm_schema(128, 20, vocabulary_size=300).feature[0].int_domain.max
    299
    """
    top_id = None if vocabulary_size is None else vocabulary_size - 1
    int_ranges = {  # feature -> (min, max); None: no upper bound known here
        "input_ids": (0, top_id),
        "input_mask": (0, 1),
        "segment_ids": (0, 1),
        "masked_lm_positions": (0, max_seq_length - 1),
        "masked_lm_ids": (0, top_id),
        "next_sentence_labels": (0, 1),
    }
    schema = schema_pb2.Schema()
    for name, (dtype, length) in _masked_lm_layout(max_seq_length, max_predictions_per_seq,
                                                   feature_names, masked).items():
        feature = schema.feature.add(name=_stored_name(name, feature_names))
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


def serialize_document(doc: Document) -> bytes:
    """``make_document_example(doc).SerializeToString(deterministic=True)``, without the proto.

    Example:
    >>> doc = Document("a.txt:1", "Héllo.")
    >>> serialize_document(doc) == make_document_example(doc).SerializeToString(deterministic=True)
    True
    """
    body = b"".join(_entry_prefix(name, _BYTES_LIST, len(value)) + value
                    for name, value in ((b"id", doc.id.encode("utf-8")),
                                        (b"text", doc.text.encode("utf-8"))))
    return b"\x0a" + _varint(len(body)) + body


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
