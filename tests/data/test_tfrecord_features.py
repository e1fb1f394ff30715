"""The document record and masked-LM example formats, and the committed schema."""
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from cloze.data.corpus import Document
from cloze.data.features import (feature_spec, make_document_example, make_example,
                                 masked_lm_schema, parse_document_example, serialize_document,
                                 serialize_examples)
from cloze.schemas import default_schema_path


def test_schema_file_equals_the_generated_default():
    committed = pathlib.Path(default_schema_path()).read_text()

    assert committed == text_format.MessageToString(masked_lm_schema(128, 20))


def test_schema_and_feature_spec_describe_the_same_features():
    schema = masked_lm_schema(16, 3)
    spec = feature_spec(16, 3)

    assert [f.name for f in schema.feature] == list(spec)
    assert {f.name: f.shape.dim[0].size for f in schema.feature} == {
        name: s.shape[0] for name, s in spec.items()}


def test_example_is_padded_and_parses_with_feature_spec():
    example = make_example(np.array([2, 4, 11, 12, 3]), np.array([1]), np.array([10]),
                           max_seq_length=8, max_predictions_per_seq=3)

    parsed = tf.io.parse_example([example.SerializeToString()], feature_spec(8, 3))

    values = {name: tensor[0].numpy().tolist() for name, tensor in parsed.items()}
    assert values == {
        "input_ids": [2, 4, 11, 12, 3, 0, 0, 0],
        "input_mask": [1, 1, 1, 1, 1, 0, 0, 0],
        "segment_ids": [0] * 8,
        "masked_lm_positions": [1, 0, 0],
        "masked_lm_ids": [10, 0, 0],
        "masked_lm_weights": [1.0, 0.0, 0.0],
        "next_sentence_labels": [0],
    }


@pytest.mark.parametrize("feature_names, masked", [("bert", True), ("model_garden", True),
                                                   ("bert", False)])
def test_batch_serialization_is_byte_identical_to_the_proto(feature_names, masked):
    rng = np.random.default_rng(0)
    length, slots = 16, 4
    lengths = rng.integers(2, length + 1, size=50)
    real = np.arange(length) < lengths[:, None]
    # Ids up to 2**40 need six varint bytes; 127/128 sit on a byte boundary.
    ids = np.where(real, rng.choice([0, 5, 127, 128, 30_000, 2**40], size=(50, length)), 0)
    counts = rng.integers(0, slots + 1, size=50)
    used = np.arange(slots) < counts[:, None]
    batch = {"input_ids": ids, "input_mask": real.astype(np.int64),
             "segment_ids": np.where(real, rng.integers(0, 2, (50, length)), 0),
             "next_sentence_labels": rng.integers(0, 2, (50, 1))}
    if masked:
        batch.update(masked_lm_positions=np.where(used, rng.integers(1, length, (50, slots)), 0),
                     masked_lm_ids=np.where(used, rng.integers(0, 2**40, (50, slots)), 0),
                     masked_lm_weights=used.astype(np.float32))

    records = serialize_examples(batch, feature_names)

    for row, record in enumerate(records):
        n, k = lengths[row], counts[row]
        example = make_example(
            ids[row, :n], batch["masked_lm_positions"][row, :k] if masked else None,
            batch["masked_lm_ids"][row, :k] if masked else None, length, slots,
            batch["segment_ids"][row, :n], int(batch["next_sentence_labels"][row, 0]),
            feature_names)
        assert record == example.SerializeToString(deterministic=True)


def test_document_serialization_is_byte_identical_to_the_proto():
    for document in [Document("a.txt:1", "x"), Document("dir/b.jsonl:7", "naïve ☃\x00 " * 30)]:
        assert serialize_document(document) == make_document_example(
            document).SerializeToString(deterministic=True)


def test_example_longer_than_max_seq_length_is_rejected():
    with pytest.raises(ValueError, match="9 tokens; expected at most data.max_seq_length=8"):
        make_example(np.arange(9), [], [], max_seq_length=8, max_predictions_per_seq=3)


def test_document_record_round_trips_unicode_text():
    document = Document("dir/a.jsonl:7", "Zeile 1\nnaïve ☃\x00 end")

    serialized = make_document_example(document).SerializeToString()

    assert parse_document_example(serialized) == document


def test_record_without_text_is_rejected_naming_the_feature():
    record = make_document_example(Document("a.txt:1", "Text."))
    del record.features.feature["text"]

    with pytest.raises(ValueError, match="no single bytes feature 'text' \\(features: id\\)"):
        parse_document_example(record.SerializeToString())
