"""TextExampleGen: raw text files -> document records split into train and eval."""
import json

import apache_beam as beam
from tfx.types import artifact_utils
from tfx.v1.dsl.components import BeamComponentParameter, OutputArtifact, Parameter, component
from tfx.v1.types.standard_artifacts import Examples

from cloze.components.counts import record_counts
from cloze.config import CorpusConfig
from cloze.data.jobs import ingest_corpus

SPLITS = ["train", "eval"]


@component(use_beam=True)
def TextExampleGen(
    documents: OutputArtifact[Examples],
    corpus_config: Parameter[str],
    eval_percent: Parameter[int],
    corpus_fingerprint: Parameter[str],
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Reads plain-text and JSON Lines files into ``id``/``text`` records.

    ``corpus_config`` is a ``CorpusConfig`` as JSON. ``corpus_fingerprint``
    (``cloze.data.corpus.corpus_fingerprint`` of the corpus when the pipeline was
    built) is part of the cache key, so a changed corpus behind unchanged paths
    is read again; it is recorded on the artifact. Documents go to the eval
    split by a hash of their id; read, written and skipped counts are written to
    ``counts.json`` beside the data.
    """
    config = CorpusConfig(**json.loads(corpus_config))
    counts = ingest_corpus(beam_pipeline, config, eval_percent, documents.uri)
    documents.split_names = artifact_utils.encode_split_names(SPLITS)
    documents.set_string_custom_property("corpus_fingerprint", corpus_fingerprint)
    record_counts(documents, counts, "TextExampleGen")
