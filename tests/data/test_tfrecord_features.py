"""The document record and masked-LM example formats, and the committed schema."""
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from cloze.data.corpus import Document
from cloze.data.features import (feature_spec, make_document_example, make_example,
                                 masked_lm_schema, parse_document_example)
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
