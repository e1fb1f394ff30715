"""VocabularyGen: learns a WordPiece vocabulary from the train documents, or takes a given one."""
import json
import os

import apache_beam as beam
from tfx.types import artifact_utils
from tfx.v1.dsl.components import (BeamComponentParameter, InputArtifact, OutputArtifact,
                                   Parameter, component)
from tfx.v1.types.standard_artifacts import Examples

from cloze.components.artifacts import VOCABULARY_FILE, Vocabulary
from cloze.components.counts import report
from cloze.config import VocabConfig
from cloze.data.jobs import learn_vocabulary


@component(use_beam=True)
def VocabularyGen(
    documents: InputArtifact[Examples],
    vocabulary: OutputArtifact[Vocabulary],
    vocab_config: Parameter[str],
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Writes ``vocab.txt`` (special tokens first) under the artifact URI."""
    config = VocabConfig(**json.loads(vocab_config))
    pattern = os.path.join(artifact_utils.get_split_uri([documents], "train"), "*")
    tokens = learn_vocabulary(beam_pipeline, pattern, config,
                              os.path.join(vocabulary.uri, VOCABULARY_FILE))
    vocabulary.set_int_custom_property("vocabulary_size", len(tokens))
    report("VocabularyGen", f"{len(tokens)} tokens in {vocabulary.uri}")
