"""Tiny masked-LM shards, made once per session by the real Beam data stage."""
import os

import apache_beam as beam
import pytest

from cloze.config import CorpusConfig, DataConfig, PipelineConfig, VocabConfig
from cloze.data.default_corpus import write_default_corpus
from cloze.data.jobs import ingest_corpus, learn_vocabulary, make_masked_lm_examples

SEQ = 32


def training_config(**train) -> PipelineConfig:
    return PipelineConfig.from_dict({
        "vocab": {"vocab_size": 400},
        "data": {"max_seq_length": SEQ, "max_predictions_per_seq": 5},
        "model": {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32,
                  "max_sequence_length": SEQ},
        "train": {"batch_size": 8, "train_steps": 20, "steps_per_execution": 2,
                  "learning_rate": 1e-3, **train},
    })


@pytest.fixture(name="training_config")
def training_config_fixture():
    return training_config


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """``(train pattern, eval pattern, vocabulary path)`` of a ~40 KB corpus."""
    root = tmp_path_factory.mktemp("shards")
    corpus = write_default_corpus(str(root / "corpus"), 40_000)
    ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(corpus,)), 10, str(root / "docs"))
    vocab = str(root / "vocab.txt")
    learn_vocabulary(beam.Pipeline(), str(root / "docs" / "Split-train" / "*"),
                     VocabConfig(vocab_size=400), vocab)
    make_masked_lm_examples(beam.Pipeline(), str(root / "docs"), vocab, VocabConfig(),
                            DataConfig(max_seq_length=SEQ, max_predictions_per_seq=5),
                            str(root / "examples"))
    return (os.path.join(root, "examples", "Split-train", "*"),
            os.path.join(root, "examples", "Split-eval", "*"), vocab)
