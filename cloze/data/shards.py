"""Writing records to gzipped TFRecord shards whose bytes depend on the records alone.

Beam's ``WriteToTFRecord`` puts each record in a shard chosen at random and
in the order its bundle arrived, so two runs of the same job differ in bytes.
Here each record carries a sort key (a sha256 of where it comes from): the key
picks its shard, and a shard is written sorted by key, so the same records
give byte-identical files whatever the runner, the worker count or the input
order. Sorting by a hash also spreads neighbouring sequences over the shards
and through each shard, a deterministic shuffle. The sort spills to disk
(``sorted_runs``): memory does not grow with the output.
"""
from __future__ import annotations

import functools
import hashlib
import json
import uuid
from typing import Iterable, Iterator, List, Tuple, Union

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics

from cloze.data.corpus import COUNTER_NAMESPACE
from cloze.data.sorted_runs import (SPILL_BUDGET_BYTES, TEMPORARY_PREFIX, SpillSortedRuns,
                                    delete_runs, grouped, merge_runs)

SHARD_PREFIX = "data_tfrecord"

KeyedRecord = Tuple[bytes, bytes]
# json.dumps with options builds an encoder per call; a key per record makes that count.
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)


def keyed_record(key: Tuple[Union[str, int], ...], record: bytes) -> KeyedRecord:
    """(sha256 of ``key``, ``record``): what ``WriteShards`` takes, in lists.

    ``key`` must be unique within what one ``WriteShards`` writes, e.g.
    ``(document id, sequence number, copy)``; ``record`` is a serialized
    example (``features.serialize_examples`` or ``serialize_document``).

    Example:
    >>> sort_key, record = keyed_record(("a.txt:1", 0), b"")
    >>> sort_key.hex()[:12], record
    ('25d3b1180d3a', b'')
    """
    material = _KEY_ENCODER.encode(list(key)).encode("utf-8")
    return hashlib.sha256(material).digest(), record


def shard_name(index: int, num_shards: int) -> str:
    """The file name of shard ``index``, as Beam names them.

    Example:
    >>> shard_name(0, 2)
    'data_tfrecord-00000-of-00002.gz'
    """
    return f"{SHARD_PREFIX}-{index:05d}-of-{num_shards:05d}.gz"


class WriteShards(beam.PTransform):
    """Lists of keyed records -> ``output_dir/data_tfrecord-SSSSS-of-NNNNN.gz``, sorted by key.

    Takes a ``PCollection`` of them, or a tuple of several (as
    ``TokenizePackMask`` makes).

    Records travel in lists (one per batch of work upstream), so Beam handles
    a few elements per batch rather than one per record. Each bundle spills
    its records as runs sorted by key, one per shard it touches
    (``sorted_runs.SpillSortedRuns``, up to ``spill_budget_bytes`` buffered),
    into ``output_dir``; only the run paths are grouped by shard, and each
    shard is a streaming merge of its runs, so no worker (nor the in-memory
    DirectRunner) holds a shard. Exactly ``num_shards`` files are written,
    empty ones included, so a reader's glob always matches. Each file is
    written under a temporary name and renamed when complete, then its runs
    are deleted; a retried write writes the same bytes. Counter
    ``shards_written``. Returns the paths written.

    Example:
    >>> import os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> records = [[keyed_record((n,), b"") for n in range(3)], [keyed_record((3,), b"")]]
    >>> with beam.Pipeline() as p:
    ...     _ = p | beam.Create(records) | WriteShards(out, num_shards=2)
    >>> sorted(os.listdir(out))
    ['data_tfrecord-00000-of-00002.gz', 'data_tfrecord-00001-of-00002.gz']
    """

    def __init__(self, output_dir: str, num_shards: int,
                 spill_budget_bytes: int = SPILL_BUDGET_BYTES):
        super().__init__()
        self._output_dir = output_dir
        self._num_shards = num_shards
        self._budget = spill_budget_bytes

    def expand(self, record_lists):
        num_shards = self._num_shards
        # Parts are spilled apart: a Flatten of outputs of two stages would be materialized.
        parts = record_lists if isinstance(record_lists, tuple) else (record_lists,)
        spill = SpillSortedRuns(self._output_dir,
                                functools.partial(_by_shard, num_shards=num_shards), self._budget)
        runs = tuple(part | ("SpillByShard" if not number else f"SpillByShard{number}")
                     >> beam.ParDo(spill) for number, part in enumerate(parts))
        if len(runs) > 1:
            runs = runs | "AllRuns" >> beam.Flatten()
        else:
            (runs,) = runs
        every_shard = (parts[0].pipeline
                       | "EveryShard" >> beam.Create([(i, None) for i in range(num_shards)]))
        return ({"runs": runs, "shard": every_shard}
                | "GatherShards" >> beam.CoGroupByKey()
                | "WriteSorted" >> beam.ParDo(_WriteShardFn(self._output_dir, num_shards)))


def _by_shard(records: List[KeyedRecord], num_shards: int
              ) -> Iterator[Tuple[int, List[KeyedRecord]]]:
    """(shard index, the records of ``records`` that go there), for each shard they touch."""
    return grouped(records, lambda record: int.from_bytes(record[0][:8], "big") % num_shards)


class _WriteShardFn(beam.DoFn):
    """(shard index, its run paths) -> the shard file, the runs' records merged by key."""

    def __init__(self, output_dir: str, num_shards: int):
        self._output_dir = output_dir
        self._num_shards = num_shards
        self._written = Metrics.counter(COUNTER_NAMESPACE, "shards_written")

    def process(self, shard: Tuple[int, dict]) -> Iterator[str]:
        index, groups = shard
        runs = list(groups["runs"])
        path = FileSystems.join(self._output_dir, shard_name(index, self._num_shards))
        if FileSystems.exists(path):
            # Runs are deleted only once the shard is in place: with some gone, a failed
            # attempt of this bundle has written it; with all there, it is an earlier job's.
            left = [run for run in runs if FileSystems.exists(run)]
            if len(left) == len(runs):
                self._write(runs, path)
        else:  # the usual case, one metadata call rather than one per run
            self._write(runs, path)
            left = runs
        delete_runs(left)
        self._written.inc()
        yield path

    def _write(self, runs: List[str], path: str) -> None:
        temporary = FileSystems.join(self._output_dir,
                                     f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}")
        tf.io.gfile.makedirs(self._output_dir)
        with tf.io.TFRecordWriter(temporary, options="GZIP") as writer:
            for _, record in merge_runs(runs):
                writer.write(record)
        tf.io.gfile.rename(temporary, path, overwrite=True)


def remove_temporaries(output_dirs: Iterable[str]) -> None:
    """Deletes the temporary files left in ``output_dirs`` once a job is done.

    Those of failed attempts of ``WriteShards`` (partial shards, sorted runs)
    and the sorted runs of ``mlm_examples.PackSequences``, kept to the end so
    that a retried bundle can read them again.

    Example:
    >>> import tempfile
    >>> remove_temporaries([tempfile.mkdtemp()])
    """
    for directory in output_dirs:
        for path in tf.io.gfile.glob(FileSystems.join(directory, TEMPORARY_PREFIX + "*")):
            tf.io.gfile.remove(path)
