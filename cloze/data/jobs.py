"""The data stage's jobs, one per TFX executor: ingest, learn the vocabulary, make examples.

Each job takes a fresh ``beam.Pipeline`` from its caller (who picks the runner
and options), builds its graph on it, runs it to the end and returns what it
made: the ``"cloze"`` counters, or the vocabulary. Splits live in TFX's
``<uri>/Split-<name>/`` directories.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics

from cloze.config import CorpusConfig, DataConfig, VocabConfig
from cloze.data.corpus import (COUNTER_NAMESPACE, CorpusError, Document, ReadCorpus,
                               counter_values, expand_corpus_paths)
from cloze.data.features import make_document_example, parse_document_example
from cloze.data.manifest import MANIFEST_FILE, HashFiles, read_json, sha256_of_lines, write_json
from cloze.data.mlm_examples import TokenizePackMask, is_eval_document
from cloze.data.shards import WriteShards, keyed_record, remove_temporaries
from cloze.data.wordpiece import LearnVocabulary, read_vocabulary, write_vocabulary

SPLITS = ("train", "eval")


def ingest_corpus(pipeline: beam.Pipeline, config: CorpusConfig, eval_percent: int,
                  output_uri: str, num_shards: int = 1) -> dict[str, int]:
    """Reads the corpus into document records in ``output_uri/Split-{train,eval}/``.

    Runs ``pipeline`` to the end. A document goes to eval by
    ``is_eval_document(id, eval_percent)``, every split gets ``num_shards``
    files (perhaps empty) of ``make_document_example`` records. Writes
    ``output_uri/manifest.json``: the input files with sizes and sha256, the
    corpus config, ``eval_percent`` and the counts. Returns the counters:
    those of ``ReadCorpus`` plus ``documents_written_train`` and
    ``documents_written_eval``.

    Raises:
        CorpusError: ``config.paths`` matches nothing, a file is malformed, or
            no document at all came out (the message gives the counts).
    """
    inputs_path = FileSystems.join(output_uri, ".inputs.json")
    _ = (pipeline
         | "ListInputs" >> beam.Create(expand_corpus_paths(config.paths))
         | "HashInputs" >> HashFiles(inputs_path))
    documents = pipeline | "ReadCorpus" >> ReadCorpus(config)
    splits = documents | "SplitByIdHash" >> beam.Partition(_split_index, len(SPLITS), eval_percent)
    for split, split_documents in zip(SPLITS, splits):
        _ = (split_documents
             | f"Count{split.title()}" >> beam.ParDo(_CountFn(f"documents_written_{split}"))
             | f"ToRecords{split.title()}" >> beam.Map(
                 lambda doc: keyed_record((doc.id,), make_document_example(doc)))
             | f"Write{split.title()}" >> WriteShards(_split_uri(output_uri, split), num_shards))
    counts = _run(pipeline, [_split_uri(output_uri, split) for split in SPLITS])
    if not any(counts.get(f"documents_written_{split}", 0) for split in SPLITS):
        read_counts = ", ".join(f"{name}={value}" for name, value in counts.items())
        raise CorpusError(f"no documents in {', '.join(config.paths)}: {read_counts}; "
                          "expected non-empty documents in valid UTF-8")
    write_json(FileSystems.join(output_uri, MANIFEST_FILE), {
        "inputs": read_json(inputs_path), "corpus": dataclasses.asdict(config),
        "eval_percent": eval_percent, "counts": counts})
    FileSystems.delete([inputs_path])
    return counts


def _split_index(doc: Document, num_partitions: int, eval_percent: int) -> int:
    return SPLITS.index("eval" if is_eval_document(doc.id, eval_percent) else "train")


def learn_vocabulary(pipeline: beam.Pipeline, documents_pattern: str, config: VocabConfig,
                     output_path: str) -> list[str]:
    """Learns the WordPiece vocabulary of the documents matching ``documents_pattern``.

    Writes it to ``output_path`` (``vocab.txt`` format) and returns it. With
    ``config.vocab_file`` set, that file is checked and copied instead, and
    ``pipeline`` is not run.

    Raises:
        VocabularyError: ``config.vocab_file`` is malformed (the message says how).
    """
    if config.vocab_file:
        vocabulary = read_vocabulary(config.vocab_file)
        write_vocabulary(vocabulary, output_path)
        return vocabulary
    _ = (pipeline
         | "ReadDocuments" >> _ReadDocuments(documents_pattern)
         | "Texts" >> beam.Map(lambda doc: doc.text)
         | "LearnVocabulary" >> LearnVocabulary(config)
         | "OneTokenPerLine" >> beam.Map("\n".join)
         | "WriteVocabulary" >> beam.io.WriteToText(output_path, shard_name_template="",
                                                    num_shards=1))
    _run(pipeline)
    return read_vocabulary(output_path)


def make_masked_lm_examples(pipeline: beam.Pipeline, documents_uri: str, vocab_path: str,
                            lower_case: bool, config: DataConfig, output_uri: str
                            ) -> dict[str, int]:
    """Turns each split's document records into masked-LM TFRecords; runs ``pipeline``.

    Reads ``documents_uri/Split-<split>/*``, writes ``config.num_shards`` shards
    to ``output_uri/Split-<split>/`` and ``output_uri/manifest.json``: the
    documents' manifest (inputs, corpus config, ingest counts) plus the data
    config, seed, ``lower_case``, vocabulary sha256 and size, and these counts.
    Returns the counters of ``TokenizePackMask`` per split, e.g.
    ``sequences_written_train`` and ``masked_tokens_eval``.
    """
    vocabulary = read_vocabulary(vocab_path)
    for split in SPLITS:
        _ = (pipeline
             | f"Read{split.title()}" >> _ReadDocuments(
                 FileSystems.join(_split_uri(documents_uri, split), "*"))
             | f"TokenizePackMask{split.title()}" >> TokenizePackMask(
                 vocabulary, lower_case, config, counter_suffix=f"_{split}")
             | f"Write{split.title()}" >> WriteShards(_split_uri(output_uri, split),
                                                      config.num_shards))
    counts = _run(pipeline, [_split_uri(output_uri, split) for split in SPLITS])
    documents_manifest = FileSystems.join(documents_uri, MANIFEST_FILE)
    manifest = read_json(documents_manifest) if FileSystems.exists(documents_manifest) else {}
    manifest["counts"] = {"documents": manifest.get("counts", {}), "examples": counts}
    manifest.update(data=dataclasses.asdict(config), seed=config.seed, lower_case=lower_case,
                    vocabulary={"sha256": sha256_of_lines(vocabulary), "size": len(vocabulary)})
    write_json(FileSystems.join(output_uri, MANIFEST_FILE), manifest)
    return counts


def _split_uri(uri: str, split: str) -> str:
    return FileSystems.join(uri, f"Split-{split}")


def _run(pipeline: beam.Pipeline, output_dirs: Sequence[str] = ()) -> dict[str, int]:
    result = pipeline.run()
    result.wait_until_finish()
    remove_temporaries(output_dirs)
    return counter_values(result)


class _ReadDocuments(beam.PTransform):
    """Document records (gzipped TFRecords matching ``pattern``) -> ``Document``."""

    def __init__(self, pattern: str):
        super().__init__()
        self._pattern = pattern

    def expand(self, pbegin):
        return (pbegin
                | "ReadRecords" >> beam.io.ReadFromTFRecord(self._pattern)
                | "Parse" >> beam.Map(parse_document_example))


class _CountFn(beam.DoFn):
    """Passes elements through, counting them in counter ``name``."""

    def __init__(self, name: str):
        self._counter = Metrics.counter(COUNTER_NAMESPACE, name)

    def process(self, element):
        self._counter.inc()
        yield element
