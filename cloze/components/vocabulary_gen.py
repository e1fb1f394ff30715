"""VocabularyGen: learns the tokenizer (``vocab.tokenizer``) from the train documents, or takes a
given one."""
import json
import os

import apache_beam as beam
from tfx.types import artifact_utils
from tfx.v1.dsl.components import (BeamComponentParameter, InputArtifact, OutputArtifact,
                                   Parameter, component)
from tfx.v1.types.standard_artifacts import Examples

from cloze.components.artifacts import TOKENIZER_PROPERTY, Vocabulary
from cloze.components.counts import report
from cloze.config import VocabConfig
from cloze.data.jobs import learn_vocabulary
from cloze.data.tokenizers import TOKENIZER_FILES


@component(use_beam=True)
def VocabularyGen(
    documents: InputArtifact[Examples],
    vocabulary: OutputArtifact[Vocabulary],
    vocab_config: Parameter[str],
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Writes the tokenizer's files (``vocab.txt``, special tokens first; ``spiece.model``;
    ``vocab.json`` and ``merges.txt``) under the artifact URI."""
    config = VocabConfig(**json.loads(vocab_config))
    pattern = os.path.join(artifact_utils.get_split_uri([documents], "train"), "*")
    tokens = learn_vocabulary(beam_pipeline, pattern, config,
                              os.path.join(vocabulary.uri, TOKENIZER_FILES[config.tokenizer][0]))
    vocabulary.set_int_custom_property("vocabulary_size", len(tokens))
    vocabulary.set_string_custom_property(TOKENIZER_PROPERTY, config.tokenizer)
    report("VocabularyGen", f"{config.tokenizer}: {len(tokens)} tokens in {vocabulary.uri}")
