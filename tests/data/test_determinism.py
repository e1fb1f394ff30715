"""Same inputs, config and seed -> byte-identical shards, whatever the runner mode, input order
or spill budget."""
import dataclasses
import json
import os
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from cloze.config import SPECIAL_TOKENS, CorpusConfig, DataConfig, VocabConfig
from cloze.data.blocks import DocumentBlock
from cloze.data import corpus
from cloze.data.corpus import Document
from cloze.data.default_corpus import write_default_corpus
from cloze.data.jobs import (ingest_corpus, learn_vocabulary, make_masked_lm_examples,
                             make_masked_lm_examples_from_corpus)
from cloze.data.mlm_examples import TokenizePackMask
from cloze.data.shards import WriteShards, remove_temporaries
from cloze.data.sorted_runs import SPILL_BUDGET_BYTES

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
                            str(output / "vocab.txt"), VocabConfig(), CONFIG,
                            str(output / "examples"))


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


@pytest.mark.parametrize("packing", ["full_sentences", "doc_pairs"])
def test_a_tiny_spill_budget_writes_the_bytes_of_the_default_one(tmp_path, packing):
    words = [f"w{number}" for number in range(40)]
    vocab_path = tmp_path / "vocab.txt"
    vocab_path.write_text("\n".join([*SPECIAL_TOKENS, *words, "."]) + "\n")
    rng = random.Random(0)
    documents = [Document(f"d.txt:{number}", " ".join(
        " ".join(rng.choices(words, k=rng.randint(3, 12))) + "."
        for _ in range(rng.randint(1, 6)))) for number in range(300)]
    config = dataclasses.replace(CONFIG, packing=packing)

    def write(out, budget):
        with beam.Pipeline() as pipeline:  # one block each: every tail goes to the buckets
            _ = (pipeline | beam.Create([DocumentBlock.from_documents([doc]) for doc in documents])
                 | TokenizePackMask(str(vocab_path), VocabConfig(lower_case=True), config,
                                    spill_dir=str(out), spill_budget_bytes=budget)
                 | WriteShards(str(out), config.num_shards, spill_budget_bytes=budget))
        packing_runs = len([name for name in os.listdir(out) if name.startswith(".tmp-")])
        remove_temporaries([str(out)])
        return packing_runs, file_bytes(out)

    default_runs, default_bytes = write(tmp_path / "default", SPILL_BUDGET_BYTES)
    tiny_runs, tiny_bytes = write(tmp_path / "tiny", 2_000)

    assert default_runs == config.packing_buckets
    assert tiny_runs > 10 * config.packing_buckets
    assert len(default_bytes) == config.num_shards
    assert tiny_bytes == default_bytes


def test_a_big_file_read_in_parts_by_two_processes_writes_the_bytes_of_reading_it_whole(
        tmp_path, monkeypatch):
    # Over twice PART_BYTES, so the worker processes (which see the module's own
    # constants) cut it in parts; in this process it is then read whole.
    corpus_dir = tmp_path / "corpus"
    seed = write_default_corpus(str(tmp_path / "seed"), max_bytes=200_000)
    text = b"".join(open(os.path.join(seed, name), "rb").read() for name in os.listdir(seed))
    corpus_dir.mkdir()
    (corpus_dir / "big.txt").write_bytes(text * (2 * corpus.PART_BYTES // len(text) + 1))
    assert len(corpus.file_parts(str(corpus_dir / "big.txt"), "big.txt")) >= 2
    vocab = tmp_path / "vocab.txt"
    words = sorted({word for word in text.decode().lower().split() if word.isalpha()})
    vocab.write_text("\n".join([*SPECIAL_TOKENS, *words[:2000]]) + "\n")
    config = dataclasses.replace(CONFIG, dupe_factor=1, eval_percent=10)
    corpus_config = CorpusConfig(paths=(str(corpus_dir),))

    make_masked_lm_examples_from_corpus(
        beam.Pipeline(options=PipelineOptions(direct_running_mode="multi_processing",
                                              direct_num_workers=2)),
        corpus_config, str(vocab), VocabConfig(), config, str(tmp_path / "parts"))
    monkeypatch.setattr(corpus, "PART_BYTES", 1 << 30)
    make_masked_lm_examples_from_corpus(beam.Pipeline(), corpus_config, str(vocab),
                                        VocabConfig(), config, str(tmp_path / "whole"))

    parts, whole = file_bytes(tmp_path / "parts"), file_bytes(tmp_path / "whole")
    assert len(whole) == 2 * CONFIG.num_shards
    assert parts == whole
