"""The data stage's jobs, one per TFX executor: ingest, learn the vocabulary, make examples.

Each job takes a fresh ``beam.Pipeline`` from its caller (who picks the runner
and options), builds its graph on it, runs it to the end and returns what it
made: the ``"cloze"`` counters, or the vocabulary. Splits live in TFX's
``<uri>/Split-<name>/`` directories.
"""
from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import json
import os
import tempfile
from typing import Iterator, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics

from cloze.config import CorpusConfig, DataConfig, VocabConfig
from cloze.data.blocks import ReadCorpusBlocks, ReadDocumentBlocks, file_order_key
from cloze.data.corpus import (COUNTER_NAMESPACE, CorpusError, Document, count_parts,
                               counter_values, expand_corpus_paths)
from cloze.data.features import parse_document_example, serialize_document
from cloze.data.manifest import MANIFEST_FILE, HashFiles, read_json, write_json
from cloze.data.mlm_examples import (EXAMPLES_COUNTERS, TokenizePackMask, is_eval_document,
                                     shared_tokenizer)
from cloze.data.shards import SHARD_PREFIX, WriteShards, remove_temporaries
from cloze.data.tokenizers import (MAX_TRAINING_LINES, copy_tokenizer, learn_tokenizer,
                                   load_tokenizer, tokenizer_sha256)
from cloze.data.wordpiece import (LearnVocabulary, VocabularyError, read_vocabulary,
                                  write_vocabulary)

SPLITS = ("train", "eval")
# The most document shards per split that ingest_corpus writes by default.
MAX_DOCUMENT_SHARDS = 64


def ingest_corpus(pipeline: beam.Pipeline, config: CorpusConfig, eval_percent: int,
                  output_uri: str, num_shards: Optional[int] = None) -> dict[str, int]:
    """Reads the corpus into document records in ``output_uri/Split-{train,eval}/``.

    Runs ``pipeline`` to the end. A document goes to eval by
    ``is_eval_document(id, eval_percent)``, every split gets ``num_shards``
    files (perhaps empty) of ``make_document_example`` records, each window
    of a file's documents together and in order (``blocks.file_order_key``).
    By default one shard per corpus file, or per ``corpus.PART_BYTES`` of a
    big one (``corpus.count_parts``), at most ``MAX_DOCUMENT_SHARDS``: making examples reads each
    shard whole in one worker, so shards are what it spreads. Writes
    ``output_uri/manifest.json``: the input files with sizes and sha256, the
    corpus config, ``eval_percent`` and the counts. Returns the counters:
    those of ``ReadCorpus`` plus ``documents_written_train`` and
    ``documents_written_eval``.

    Raises:
        CorpusError: ``config.paths`` matches nothing, a file is malformed, or
            no document at all came out (the message gives the counts).
    """
    inputs_path = FileSystems.join(output_uri, ".inputs.json")
    if num_shards is None:
        num_shards = min(count_parts(config.paths), MAX_DOCUMENT_SHARDS)
    for split, documents in _read_splits(pipeline, config, eval_percent, inputs_path).items():
        _ = (documents
             | f"ToRecords{split.title()}" >> beam.Map(lambda block: [
                 (file_order_key(doc.id), serialize_document(doc)) for doc in block.documents()])
             | f"Write{split.title()}" >> WriteShards(_split_uri(output_uri, split), num_shards))
    counts = _run(pipeline, [_split_uri(output_uri, split) for split in SPLITS])
    _check_documents(counts, config)
    write_json(FileSystems.join(output_uri, MANIFEST_FILE),
               _corpus_manifest(inputs_path, config, eval_percent, counts))
    return counts


def _read_splits(pipeline: beam.Pipeline, config: CorpusConfig, eval_percent: int,
                 inputs_path: str) -> dict[str, beam.PCollection]:
    """The corpus's documents in blocks by split, counted (``documents_written_<split>``).

    Also hashes the input files into ``inputs_path`` for the manifest.
    """
    _ = (pipeline
         | "ListInputs" >> beam.Create(expand_corpus_paths(config.paths))
         | "HashInputs" >> HashFiles(inputs_path))
    blocks = pipeline | "ReadCorpus" >> ReadCorpusBlocks(
        config, functools.partial(_split_of, eval_percent=eval_percent), SPLITS)
    return {split: blocks[split]
            | f"Count{split.title()}" >> beam.ParDo(_CountFn(f"documents_written_{split}"))
            for split in SPLITS}


def _check_documents(counts: dict[str, int], config: CorpusConfig) -> None:
    if not any(counts.get(f"documents_written_{split}", 0) for split in SPLITS):
        read_counts = ", ".join(f"{name}={value}" for name, value in counts.items())
        raise CorpusError(f"no documents in {', '.join(config.paths)}: {read_counts}; "
                          "expected non-empty documents in valid UTF-8")


def _corpus_manifest(inputs_path: str, config: CorpusConfig, eval_percent: int,
                     counts: dict[str, int]) -> dict:
    """The documents' manifest; removes ``inputs_path`` once read."""
    manifest = {"inputs": read_json(inputs_path), "corpus": dataclasses.asdict(config),
                "eval_percent": eval_percent, "counts": counts}
    FileSystems.delete([inputs_path])
    return manifest


def _split_of(doc: Document, eval_percent: int) -> str:
    return "eval" if is_eval_document(doc.id, eval_percent) else "train"


def learn_vocabulary(pipeline: beam.Pipeline, documents_pattern: str, config: VocabConfig,
                     output_path: str) -> list[str]:
    """Learns ``config.tokenizer`` from the documents matching ``documents_pattern``.

    Writes the tokenizer's files at ``output_path``: the first of
    ``TOKENIZER_FILES`` (``vocab.txt``, ``spiece.model``, ``vocab.json``)
    there, the others (``merges.txt``) beside it. Returns the vocabulary, the
    token of each id. WordPiece is learned in Beam. SentencePiece and
    byte-level BPE learn in this process from a sample of the documents'
    non-blank lines chosen in Beam: the ``MAX_TRAINING_LINES`` with the
    largest sha256 of (document id, line number), in that order, so the same
    documents give the same sample and the same files. With
    ``config.vocab_file`` set, its files (``tokenizers.tokenizer_files``) are
    checked and copied instead, and ``pipeline`` is not run.

    Raises:
        VocabularyError: ``config.vocab_file`` is malformed (the message says
            how), or the documents hold no text to learn from.
        FileNotFoundError: a file of ``config.vocab_file``'s tokenizer is missing.
    """
    if config.vocab_file:
        if config.tokenizer == "wordpiece":
            vocabulary = read_vocabulary(config.vocab_file)
            write_vocabulary(vocabulary, output_path)
            return vocabulary
        vocabulary = load_tokenizer(config, config.vocab_file).vocabulary
        copy_tokenizer(config.tokenizer, config.vocab_file, output_path)
        return vocabulary
    documents = pipeline | "ReadDocuments" >> _ReadDocuments(documents_pattern)
    if config.tokenizer == "wordpiece":
        _ = (documents
             | "Texts" >> beam.Map(lambda doc: doc.text)
             | "LearnVocabulary" >> LearnVocabulary(config)
             | "OneTokenPerLine" >> beam.Map("\n".join)
             | "WriteVocabulary" >> beam.io.WriteToText(output_path, shard_name_template="",
                                                        num_shards=1))
        _run(pipeline)
        return read_vocabulary(output_path)
    return _learn_from_sample(pipeline, documents, config, output_path, documents_pattern)


def _learn_from_sample(pipeline: beam.Pipeline, documents: beam.PCollection,
                       config: VocabConfig, output_path: str, documents_pattern: str
                       ) -> list[str]:
    """SentencePiece or byte-level BPE from sampled lines (as ``learn_vocabulary`` says)."""
    out_dir = os.path.dirname(output_path) or "."
    sample_path = FileSystems.join(out_dir, ".training_lines.txt")
    _ = (documents
         | "KeyedLines" >> beam.FlatMap(_keyed_lines)
         | "Sample" >> beam.combiners.Top.Of(MAX_TRAINING_LINES)
         | "OneLinePerLine" >> beam.Map(lambda sample: "\n".join(line for _, line in sample))
         | "WriteSample" >> beam.io.WriteToText(sample_path, shard_name_template="",
                                                num_shards=1))
    _run(pipeline)
    with tf.io.gfile.GFile(sample_path) as f:
        empty = not f.read(1).strip()
    if empty:
        FileSystems.delete([sample_path])
        raise VocabularyError(f"{documents_pattern}: no text to learn a vocab.tokenizer="
                              f"{config.tokenizer!r} tokenizer from; expected non-blank lines")
    # The learners write with plain file I/O: learn locally, then copy (to gs:// too).
    with tempfile.TemporaryDirectory() as local_dir:
        written = learn_tokenizer(config, sample_path, local_dir)
        copy_tokenizer(config.tokenizer, written[0], output_path)
    FileSystems.delete([sample_path])
    return load_tokenizer(config, output_path).vocabulary


def _keyed_lines(doc: Document) -> Iterator[Tuple[str, str]]:
    """``(sha256 of [id, line number], line)`` for each non-blank line of the document."""
    for number, line in enumerate(doc.text.splitlines()):
        line = line.strip()
        if line:
            key = hashlib.sha256(json.dumps([doc.id, number]).encode("utf-8")).hexdigest()
            yield key, line


def make_masked_lm_examples(pipeline: beam.Pipeline, documents_uri: str, vocab_path: str,
                            vocab: VocabConfig, config: DataConfig, output_uri: str
                            ) -> dict[str, int]:
    """Turns each split's document records into masked-LM TFRecords; runs ``pipeline``.

    Reads ``documents_uri/Split-<split>/*``, tokenizes with ``vocab.tokenizer``
    (and ``vocab.lower_case``) over its files at ``vocab_path`` (as
    ``tokenizers.tokenizer_files`` takes it: ``vocab.txt``, ``spiece.model``,
    ``vocab.json`` with ``merges.txt`` beside it, or their directory), writes
    ``config.num_shards`` shards to ``output_uri/Split-<split>/`` and
    ``output_uri/manifest.json``: the documents' manifest (inputs, corpus
    config, ingest counts) plus the data config, seed, ``lower_case``,
    ``tokenizer``, the vocabulary's sha256 (of the tokenizer files) and size,
    and these counts. Returns the counters of ``TokenizePackMask`` per split,
    e.g. ``sequences_written_train`` and ``masked_tokens_eval``.
    """
    _write_examples({split: pipeline | f"Read{split.title()}" >> ReadDocumentBlocks(
        FileSystems.join(_split_uri(documents_uri, split), f"{SHARD_PREFIX}-*"))
        for split in SPLITS},
        vocab_path, vocab, config, output_uri)
    counts = _run(pipeline, [_split_uri(output_uri, split) for split in SPLITS])
    documents_manifest = FileSystems.join(documents_uri, MANIFEST_FILE)
    manifest = read_json(documents_manifest) if FileSystems.exists(documents_manifest) else {}
    _write_examples_manifest(manifest, counts, vocab_path, vocab, config, output_uri)
    return counts


def make_masked_lm_examples_from_corpus(pipeline: beam.Pipeline, corpus: CorpusConfig,
                                        vocab_path: str, vocab: VocabConfig,
                                        config: DataConfig, output_uri: str) -> dict[str, int]:
    """``ingest_corpus`` and ``make_masked_lm_examples`` as one job, no document records between.

    For a known vocabulary (``vocab.vocab_file``): one pipeline start, no
    write and re-read of the documents. The split is by
    ``config.eval_percent``, and the shards are byte for byte those of the two
    jobs. ``output_uri/manifest.json`` is as ``make_masked_lm_examples``
    writes it. Returns every counter, of reading and of the examples.

    Raises:
        CorpusError: as ``ingest_corpus``.
    """
    inputs_path = FileSystems.join(output_uri, ".inputs.json")
    _write_examples(_read_splits(pipeline, corpus, config.eval_percent, inputs_path),
                    vocab_path, vocab, config, output_uri)
    counts = _run(pipeline, [_split_uri(output_uri, split) for split in SPLITS])
    examples = {name: value for name, value in counts.items() if _is_examples_counter(name)}
    documents = {name: value for name, value in counts.items() if name not in examples}
    _check_documents(documents, corpus)
    _write_examples_manifest(_corpus_manifest(inputs_path, corpus, config.eval_percent,
                                              documents),
                             examples, vocab_path, vocab, config, output_uri)
    return counts


def _write_examples(documents: dict[str, beam.PCollection], vocab_path: str, vocab: VocabConfig,
                    config: DataConfig, output_uri: str) -> None:
    for split, split_documents in documents.items():
        _ = (split_documents
             | f"TokenizePackMask{split.title()}" >> TokenizePackMask(
                 vocab_path, vocab, config, spill_dir=_split_uri(output_uri, split),
                 counter_suffix=f"_{split}")
             | f"Write{split.title()}" >> WriteShards(_split_uri(output_uri, split),
                                                      config.num_shards))


def _is_examples_counter(name: str) -> bool:
    return name == "shards_written" or any(name == f"{counter}_{split}" for split in SPLITS
                                           for counter in EXAMPLES_COUNTERS)


def _write_examples_manifest(documents_manifest: dict, counts: dict[str, int],
                             vocab_path: str, vocab: VocabConfig, config: DataConfig,
                             output_uri: str) -> None:
    manifest = dict(documents_manifest)
    manifest["counts"] = {"documents": manifest.get("counts", {}), "examples": counts}
    size = len(shared_tokenizer(vocab_path, vocab).vocabulary)
    manifest.update(data=dataclasses.asdict(config), seed=config.seed,
                    lower_case=vocab.lower_case, tokenizer=vocab.tokenizer,
                    vocabulary={"sha256": tokenizer_sha256(vocab.tokenizer, vocab_path),
                                "size": size})
    write_json(FileSystems.join(output_uri, MANIFEST_FILE), manifest)


def _split_uri(uri: str, split: str) -> str:
    return FileSystems.join(uri, f"Split-{split}")


def _run(pipeline: beam.Pipeline, output_dirs: Sequence[str] = ()) -> dict[str, int]:
    # The in-memory runner makes many short-lived objects in this process, so the
    # garbage collector runs often, and each full pass would rescan the million
    # objects that importing TensorFlow and Beam made: about 20% of a job's CPU.
    gc.freeze()
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        gc.unfreeze()
        remove_temporaries(output_dirs)  # sorted runs and failed attempts, even on failure
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
    """Passes blocks through, counting their documents in counter ``name``."""

    def __init__(self, name: str):
        self._counter = Metrics.counter(COUNTER_NAMESPACE, name)

    def process(self, block):
        self._counter.inc(len(block.ids))
        yield block
