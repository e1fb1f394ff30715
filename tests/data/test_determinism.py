"""Same inputs, config and seed -> byte-identical shards, whatever the runner mode or input order."""
import json
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from cloze.config import CorpusConfig, DataConfig, VocabConfig
from cloze.data.default_corpus import write_default_corpus
from cloze.data.jobs import ingest_corpus, learn_vocabulary, make_masked_lm_examples

CONFIG = DataConfig(max_seq_length=32, max_predictions_per_seq=5, eval_percent=20, num_shards=3,
                    packing_buckets=4, dupe_factor=2)


def run_all(paths, output, examples_options):
    """Ingest and vocabulary in memory, then examples on a pipeline with ``examples_options``.

    (Only the examples job runs in processes: each job pays a few seconds per worker to start.)
    """
    ingest_corpus(beam.Pipeline(), CorpusConfig(paths=tuple(paths)), CONFIG.eval_percent,
                  str(output / "documents"), num_shards=2)
    learn_vocabulary(beam.Pipeline(), str(output / "documents" / "Split-train" / "*"),
                     VocabConfig(vocab_size=300), str(output / "vocab.txt"))
    make_masked_lm_examples(beam.Pipeline(options=examples_options), str(output / "documents"),
                            str(output / "vocab.txt"), True, CONFIG, str(output / "examples"))


def file_bytes(root):
    """Every file below ``root`` by relative path, manifests left out (they name the paths)."""
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if name != "manifest.json":
                path = os.path.join(directory, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, root)] = f.read()
    return found


def test_in_memory_and_two_process_runs_with_reordered_inputs_write_identical_bytes(tmp_path):
    corpus = write_default_corpus(str(tmp_path / "corpus" / "a"), max_bytes=5_000)
    with open(tmp_path / "corpus" / "b.jsonl", "w") as f:
        for number in range(20):
            f.write(json.dumps({"text": f"Document {number}. It has two sentences."}) + "\n")
    paths = [corpus, str(tmp_path / "corpus" / "b.jsonl")]

    run_all(paths, tmp_path / "in_memory", PipelineOptions(direct_running_mode="in_memory"))
    run_all(paths[::-1], tmp_path / "processes", PipelineOptions(
        direct_running_mode="multi_processing", direct_num_workers=2))

    first, second = file_bytes(tmp_path / "in_memory"), file_bytes(tmp_path / "processes")
    assert sorted(first) == sorted(second)
    assert len([p for p in first if p.startswith("examples")]) == 2 * CONFIG.num_shards
    assert first == second
