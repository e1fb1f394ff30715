"""MaskedLmExampleGen: documents + tokenizer -> tokenized, packed, masked TFRecords + schema."""
import json
import os

import apache_beam as beam
import tensorflow as tf
from google.protobuf import text_format
from tfx.types import artifact_utils
from tfx.v1.dsl.components import (BeamComponentParameter, InputArtifact, OutputArtifact,
                                   Parameter, component)
from tfx.v1.types.standard_artifacts import Examples, Schema

from cloze.components.artifacts import Vocabulary, tokenizer_kind
from cloze.components.counts import record_counts
from cloze.components.text_example_gen import SPLITS
from cloze.config import DataConfig, VocabConfig
from cloze.data.features import masked_lm_schema
from cloze.data.jobs import make_masked_lm_examples
from cloze.data.mlm_examples import shared_tokenizer
from cloze.data.tokenizers import copy_tokenizer

SCHEMA_FILE = "schema.pbtxt"


@component(use_beam=True)
def MaskedLmExampleGen(
    documents: InputArtifact[Examples],
    vocabulary: InputArtifact[Vocabulary],
    examples: OutputArtifact[Examples],
    schema: OutputArtifact[Schema],
    data_config: Parameter[str],
    lower_case: Parameter[bool],
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Writes gzipped ``tf.train.Example`` shards with google-research/bert's features.

    (Or Model Garden's names, or no ``masked_lm_*`` features, as ``data_config``
    says; the schema follows.) The tokenizer's files (``vocab.txt``;
    ``spiece.model``; ``vocab.json`` and ``merges.txt``) are copied beside the
    shards because token ids mean nothing without them; the Trainer reads them
    from there. ``manifest.json`` beside the shards says what made them.
    """
    config = DataConfig(**json.loads(data_config))
    vocab = VocabConfig(lower_case=lower_case, tokenizer=tokenizer_kind(vocabulary))
    counts = make_masked_lm_examples(beam_pipeline, documents.uri, vocabulary.uri, vocab,
                                     config, examples.uri)
    examples.split_names = artifact_utils.encode_split_names(SPLITS)
    copy_tokenizer(vocab.tokenizer, vocabulary.uri, examples.uri)
    vocabulary_size = len(shared_tokenizer(vocabulary.uri, vocab).vocabulary)
    record_counts(examples, counts, "MaskedLmExampleGen")
    tf.io.gfile.makedirs(schema.uri)
    with tf.io.gfile.GFile(os.path.join(schema.uri, SCHEMA_FILE), "w") as f:
        f.write(text_format.MessageToString(
            masked_lm_schema(config.max_seq_length, config.max_predictions_per_seq,
                             config.feature_names, masked=config.masking == "static",
                             vocabulary_size=vocabulary_size)))
