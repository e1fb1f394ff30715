"""Sorting more data than fits in memory: sorted runs spilled to files, merged as streams.

A shuffle that must hand a whole group to one worker in key order (a shard
sorted by record key, a packing bucket sorted by document id) need not carry
the group's data: each bundle buffers its ``(key, payload)`` items per group
up to a byte budget, sorts each group's buffer and writes it as a *run* file,
and only ``(group, run path)`` pairs cross the shuffle. The worker that gets a
group then merges its runs (``merge_runs``), reading each a buffer at a time,
so memory stays flat however large the corpus: the runner (the in-memory
DirectRunner included) keeps a few paths per bundle instead of every record.

A run is a sequence of items, each ``<key length, payload length>`` (two
little-endian uint32) followed by the key and payload bytes, in ascending
``(key, payload)`` order. Run files are named ``TEMPORARY_PREFIX`` + a random
hex in the directory given, written and read through Beam's ``FileSystems``
(local paths, ``gs://`` ...), so ``shards.remove_temporaries`` deletes those
that retried bundles left behind.
"""
from __future__ import annotations

import heapq
import struct
import uuid
from typing import Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

# A bundle's buffers, all groups together, before they are written as runs.
SPILL_BUDGET_BYTES = 32 << 20
# Runs read at once by a merge (one open file each); more are merged in passes. Remote
# file systems buffer each open file (GCS reads 16 MB ahead), so there fewer.
MAX_OPEN_RUNS = 256
MAX_OPEN_REMOTE_RUNS = 16
TEMPORARY_PREFIX = ".tmp-"

Item = Tuple[bytes, bytes]
# Roughly what Python spends on an item besides its bytes: a tuple, two bytes objects, a slot.
_ITEM_OVERHEAD = 128
_HEADER = struct.Struct("<II")


class SortedRunWriter:
    """Buffers ``(key, payload)`` items by group; writes each group's buffer as one sorted run.

    ``add`` takes a group's items; whenever the buffered bytes (keys, payloads
    and a per-item overhead) pass ``budget_bytes``, every group's buffer is
    sorted and written to a new run file in ``directory``, and ``add`` returns
    the ``(group, run path)`` pairs written. ``flush`` writes what is left. A
    group gets at most one run per spill, so a bundle of ``n`` bytes makes
    about ``n / budget_bytes`` runs per group.

    Args:
        directory: where the runs go (any Beam filesystem); made if missing.
        budget_bytes: how much to buffer, all groups together, before spilling.

    Example:
    >>> import tempfile
    >>> writer = SortedRunWriter(tempfile.mkdtemp())
    >>> writer.add("even", [(b"b", b"2"), (b"a", b"0")])
    []
    >>> writer.add("odd", [(b"c", b"1")])
    []
    >>> runs = writer.flush()
    >>> [(group, list(merge_runs([path]))) for group, path in runs]
    [('even', [(b'a', b'0'), (b'b', b'2')]), ('odd', [(b'c', b'1')])]
    >>> delete_runs([path for _, path in runs])
    """

    def __init__(self, directory: str, budget_bytes: int = SPILL_BUDGET_BYTES):
        self._directory = directory
        self._budget = budget_bytes
        self._buffers: Dict[Hashable, List[Item]] = {}
        self._buffered = 0

    def add(self, group: Hashable, items: Iterable[Item]) -> List[Tuple[Hashable, str]]:
        """Buffers ``items`` in ``group``; returns the runs written when the budget was passed."""
        runs: List[Tuple[Hashable, str]] = []
        buffer = self._buffers.setdefault(group, [])
        for key, payload in items:
            buffer.append((key, payload))
            self._buffered += len(key) + len(payload) + _ITEM_OVERHEAD
            if self._buffered > self._budget:
                runs += self.flush()
                buffer = self._buffers.setdefault(group, [])
        return runs

    def flush(self) -> List[Tuple[Hashable, str]]:
        """Writes every non-empty buffer as a run; returns ``(group, run path)`` for each."""
        runs = [(group, _write_run(self._directory, sorted(buffer)))
                for group, buffer in self._buffers.items() if buffer]
        self._buffers.clear()
        self._buffered = 0
        return runs


class SpillSortedRuns(beam.DoFn):
    """Elements -> ``(group, run path)`` pairs: a ``SortedRunWriter`` per bundle.

    ``to_items(element)`` gives ``(group, items)`` pairs, items being
    ``(key, payload)`` bytes; elements should be batches (lists), so Beam
    handles one element per many items. Runs are written when the bundle's
    buffers pass ``budget_bytes`` and when it ends. The pairs go into a
    ``GroupByKey``; ``merge_runs`` then reads a group's items in order.

    Args:
        directory: where the runs go (shared by all workers: the output's).
        to_items: element -> iterable of ``(group, iterable of (key, payload))``;
            must pickle (a module-level function or a ``functools.partial`` of one).
        budget_bytes: as ``SortedRunWriter``'s.

    Example:
    >>> import tempfile
    >>> batches = [{"odd": [(b"3", b""), (b"1", b"")], "even": [(b"2", b"")]},
    ...            {"even": [(b"0", b"")]}]
    >>> out = tempfile.mkdtemp()
    >>> with beam.Pipeline() as p:  # each batch is {group: items}, so to_items is dict.items
    ...     _ = (p | beam.Create(batches)
    ...          | beam.ParDo(SpillSortedRuns(out, dict.items, budget_bytes=1))  # spill each item
    ...          | beam.combiners.Count.PerKey()  # runs per group
    ...          | beam.combiners.ToList() | beam.Map(sorted) | beam.Map(print))
    [('even', 2), ('odd', 2)]
    """

    def __init__(self, directory: str,
                 to_items: Callable[..., Iterable[Tuple[Hashable, Iterable[Item]]]],
                 budget_bytes: int = SPILL_BUDGET_BYTES):
        self._directory = directory
        self._to_items = to_items
        self._budget = budget_bytes

    def start_bundle(self):
        self._writer = SortedRunWriter(self._directory, self._budget)

    def process(self, element) -> Iterator[Tuple[Hashable, str]]:
        for group, items in self._to_items(element):
            yield from self._writer.add(group, items)

    def finish_bundle(self):
        for run in self._writer.flush():
            yield GlobalWindows.windowed_value(run)


def grouped(items: Iterable[Item], group_of: Callable[[Item], Hashable]
            ) -> Iterator[Tuple[Hashable, List[Item]]]:
    """``(group, its items in order)`` for each group ``group_of`` gives ``items``.

    Example:
    >>> list(grouped([(b"a", b""), (b"b", b""), (b"c", b"")], lambda item: item[0] == b"b"))
    [(False, [(b'a', b''), (b'c', b'')]), (True, [(b'b', b'')])]
    """
    groups: Dict[Hashable, List[Item]] = {}
    for item in items:
        groups.setdefault(group_of(item), []).append(item)
    return iter(groups.items())


def merge_runs(paths: Iterable[str], max_open: Optional[int] = None) -> Iterator[Item]:
    """The items of the runs at ``paths``, merged into ascending ``(key, payload)`` order.

    Streams: one open file and one item per run in memory. Beyond
    ``max_open`` runs (default ``MAX_OPEN_RUNS`` on local disk,
    ``MAX_OPEN_REMOTE_RUNS`` elsewhere), groups of ``max_open`` are first
    merged into bigger runs beside them (deleted once read). Equal items (from
    different runs) all come out.
    """
    paths = list(paths)
    if max_open is None:
        local = not paths or FileSystems.get_scheme(paths[0]) in (None, "file")
        max_open = MAX_OPEN_RUNS if local else MAX_OPEN_REMOTE_RUNS
    if max_open < 2:
        raise ValueError(f"merge_runs: max_open={max_open}; expected at least 2")
    made: List[str] = []
    try:
        while len(paths) > max_open:
            merged = [_write_run(FileSystems.split(paths[0])[0],
                                 heapq.merge(*map(_read_run, paths[start:start + max_open])))
                      for start in range(0, len(paths), max_open)]
            delete_runs(made)
            paths = made = merged
        yield from heapq.merge(*map(_read_run, paths))
    finally:
        delete_runs(made)


def _write_run(directory: str, items: Iterable[Item]) -> str:
    """Writes ``items`` (in order) to a new run file in ``directory``; returns its path."""
    path = FileSystems.join(directory, f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}")
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for key, payload in items:
            f.write(_HEADER.pack(len(key), len(payload)))
            f.write(key)
            f.write(payload)
    return path


def _read_run(path: str) -> Iterator[Item]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while True:
            header = f.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                raise ValueError(f"{path}: truncated sorted run (an item header of "
                                 f"{len(header)} bytes; expected {_HEADER.size})")
            key_length, payload_length = _HEADER.unpack(header)
            body = f.read(key_length + payload_length)
            if len(body) < key_length + payload_length:
                raise ValueError(f"{path}: truncated sorted run (an item of {len(body)} bytes; "
                                 f"its header says {key_length + payload_length})")
            yield body[:key_length], body[key_length:]


def delete_runs(paths: Sequence[str]) -> None:
    """Deletes the run files at ``paths`` (once what was merged from them is safely written)."""
    if paths:
        FileSystems.delete(list(paths))
