"""Documents in blocks: runs of consecutive documents of one file, the unit of packing.

RoBERTa's ``full_sentences`` packing crosses document boundaries, so what a
sequence holds depends on the order of the documents, and Beam keeps no
order. Blocks give one that costs no shuffle: a block is a run of consecutive
documents of one file and one split, in file order, whose first lines lie in
one window of ``corpus.WINDOW_LINES`` lines, ended early once it holds
``BLOCK_CHARS`` characters. A block depends on the file's contents alone, so
it packs the same on any runner and any worker count, whatever order the
files are listed in, and a big file can be read in parts of whole windows
(``corpus.file_parts``) by several workers. ``mlm_examples`` packs each
block by itself and sends only its unfinished last sequence on, to be packed
with the other blocks' in ``packing_buckets``.

Blocks are cut where the order is known: reading a corpus file
(``ReadCorpusBlocks``), and reading the document shards that ingesting
writes (``ReadDocumentBlocks``), which keep each file's documents together
and in order (``file_order_key``). Both cut the same blocks, so making
examples straight from text or from ingested documents writes the same bytes.
"""
from __future__ import annotations

import functools
import hashlib
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.pvalue import TaggedOutput

from cloze.config import CorpusConfig
from cloze.data import corpus
from cloze.data.corpus import (CorpusError, CorpusPart, Document, ListCorpusParts,
                               ReadCorpus, ReadDocumentsFn, tfrecord_records)
from cloze.data.features import parse_document_example

# Characters of text after which a block ends (about 250,000 WordPiece tokens of prose).
BLOCK_CHARS = 1 << 20


class DocumentBlock(NamedTuple):
    """A block: the ids and texts of consecutive documents of one file, in order.

    Two lists of strings rather than a list of ``Document``: Beam's coders
    (which also size elements to sample them) handle it in one call.

    Example:
    >>> block = DocumentBlock.from_documents([Document("a.txt:1", "x"), Document("a.txt:3", "y")])
    >>> block.ids, list(block.documents())[1]
    (['a.txt:1', 'a.txt:3'], Document(id='a.txt:3', text='y'))
    """

    ids: List[str]
    texts: List[str]

    @classmethod
    def from_documents(cls, documents: Iterable[Document]) -> "DocumentBlock":
        block = cls([], [])
        for doc in documents:
            block.ids.append(doc.id)
            block.texts.append(doc.text)
        return block

    def documents(self) -> Iterator[Document]:
        return map(Document, self.ids, self.texts)


def _position(doc_id: str, window_lines: Optional[int] = None) -> Tuple[str, int, int]:
    """A document id's file (below the corpus root), window of ``window_lines`` lines
    (by default ``corpus.WINDOW_LINES``, read now) and first line (or record) number."""
    file, _, number = doc_id.rpartition(":")
    line = int(number)
    return file, (line - 1) // (window_lines or corpus.WINDOW_LINES), line


def _window_of(doc_id: str) -> Tuple[str, int]:
    """A document's file and window, from its id. (A function of its own rather than a
    slice of ``_position``: Beam infers the key coder from this annotation.)"""
    file, window, _ = _position(doc_id)
    return file, window


class BlockCutter:
    """Cuts documents, given in file order, into blocks; see ``document_blocks``.

    Example:
    >>> cutter = BlockCutter(max_chars=4)
    >>> [cutter.add(Document(f"a.txt:{n}", "xy")) for n in (1, 2, 3)]
    [None, None, DocumentBlock(ids=['a.txt:1', 'a.txt:2'], texts=['xy', 'xy'])]
    >>> cutter.rest()
    DocumentBlock(ids=['a.txt:3'], texts=['xy'])
    """

    def __init__(self, max_chars: int = BLOCK_CHARS, window_lines: Optional[int] = None):
        self._max_chars = max_chars
        # corpus.WINDOW_LINES by default, read now: file_parts cuts at the same windows.
        self._window_lines = window_lines or corpus.WINDOW_LINES
        self._block = DocumentBlock([], [])
        self._chars = 0
        self._window: Optional[Tuple[str, int]] = None

    def add(self, doc: Document) -> Optional[DocumentBlock]:
        """Adds ``doc``; returns the block it closes, if it starts a new one."""
        file, window_index, _ = _position(doc.id, self._window_lines)
        window = (file, window_index)
        closed = None
        if self._block.ids and (self._chars >= self._max_chars or window != self._window):
            closed = self.rest()
        self._block.ids.append(doc.id)
        self._block.texts.append(doc.text)
        self._chars += len(doc.text)
        self._window = window
        return closed

    def rest(self) -> Optional[DocumentBlock]:
        """The open block (None if empty); the cutter starts afresh."""
        block = self._block if self._block.ids else None
        self._block, self._chars = DocumentBlock([], []), 0
        return block


def document_blocks(documents: Iterable[Document], max_chars: int = BLOCK_CHARS
                    ) -> Iterator[DocumentBlock]:
    """``documents`` (in file order) as blocks: a new one at each file or window, or after ``max_chars``.

    Example:
    >>> docs = [Document("a.txt:1", "abc"), Document("a.txt:5", "de"), Document("b.txt:1", "f"),
    ...         Document(f"b.txt:{corpus.WINDOW_LINES + 1}", "g")]
    >>> [block.ids for block in document_blocks(docs, max_chars=3)]
    [['a.txt:1'], ['a.txt:5'], ['b.txt:1'], ['b.txt:16385']]
    >>> [block.ids for block in document_blocks(docs)]
    [['a.txt:1', 'a.txt:5'], ['b.txt:1'], ['b.txt:16385']]
    """
    return (tagged.value for tagged in _split_blocks(documents, lambda doc: "", max_chars))


def _split_blocks(documents: Iterable[Document], split_of: Callable[[Document], str],
                  max_chars: int) -> Iterator[TaggedOutput]:
    """The blocks of each split's documents (``document_blocks`` of each), tagged by split."""
    cutters: dict[str, BlockCutter] = {}
    for doc in documents:
        split = split_of(doc)
        cutter = cutters.get(split) or cutters.setdefault(split, BlockCutter(max_chars))
        block = cutter.add(doc)
        if block:
            yield TaggedOutput(split, block)
    for split, cutter in cutters.items():
        block = cutter.rest()
        if block:
            yield TaggedOutput(split, block)


def file_order_key(doc_id: str) -> bytes:
    """A sort key that keeps each window of a file's documents together and in order.

    For ``shards.WriteShards``: a sha256 of the file and the window (which
    also picks the shard, so a big file's windows spread over the shards),
    then the line number. Windows are ``corpus.WINDOW_LINES`` lines, read now.

    Example:
    >>> sorted(["b.txt:2", "a.txt:10", "b.txt:1", "a.txt:9"], key=file_order_key)
    ['b.txt:1', 'b.txt:2', 'a.txt:9', 'a.txt:10']
    """
    file, window, line = _position(doc_id)
    return (hashlib.sha256(f"{window}:{file}".encode("utf-8", "surrogatepass")).digest()[:8]
            + line.to_bytes(8, "big"))


class ReadCorpusBlocks(beam.PTransform):
    """The corpus of ``config`` (as ``ReadCorpus`` reads it) in blocks, by split.

    Returns a dict from each of ``splits`` to its ``DocumentBlock``s.
    ``split_of(document)`` names a document's split and must pickle. Each
    file (or part of a big file, ``corpus.file_parts``) is read in order and
    cut into blocks as it goes. With
    ``corpus.deduplicate`` the documents are first deduplicated (a shuffle of
    the whole corpus), then brought back together by file window and sorted (a
    window's documents in one worker's memory).

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> import operator
    >>> _ = (root / "a.txt").write_text("train\\n\\neval\\n\\ntrain\\n")
    >>> with beam.Pipeline() as p:  # here a document's text names its split
    ...     blocks = p | ReadCorpusBlocks(CorpusConfig(paths=(str(root),)),
    ...                                   operator.itemgetter(1), ("train", "eval"))
    ...     _ = blocks["train"] | beam.Map(print)
    DocumentBlock(ids=['a.txt:1', 'a.txt:5'], texts=['train', 'train'])
    """

    def __init__(self, config: CorpusConfig, split_of: Callable[[Document], str],
                 splits: Sequence[str], max_chars: int = BLOCK_CHARS):
        super().__init__()
        self._config = config
        self._split_of = split_of
        self._splits = tuple(splits)
        self._max_chars = max_chars

    def expand(self, pbegin):
        if self._config.deduplicate:
            tagged = (pbegin
                      | "ReadCorpus" >> ReadCorpus(self._config)
                      | "KeyByWindow" >> beam.Map(lambda doc: (_window_of(doc.id), doc))
                      | "GroupByWindow" >> beam.GroupByKey()
                      | "CutBlocks" >> beam.ParDo(_WindowBlocksFn(
                          self._split_of, self._max_chars)).with_outputs(*self._splits))
        else:
            tagged = (pbegin
                      | "ListParts" >> ListCorpusParts(self._config)
                      | "ReadBlocks" >> beam.ParDo(_ReadBlocksFn(
                          self._config, self._split_of,
                          self._max_chars)).with_outputs(*self._splits))
        return {split: tagged[split] for split in self._splits}


class _ReadBlocksFn(ReadDocumentsFn):
    """A ``CorpusPart`` -> its blocks, tagged by split."""

    def __init__(self, config: CorpusConfig, split_of: Callable[[Document], str],
                 max_chars: int):
        super().__init__(config)
        self._split_of = split_of
        self._max_chars = max_chars

    def process(self, part: CorpusPart) -> Iterator[TaggedOutput]:
        yield from _split_blocks(super().process(part), self._split_of, self._max_chars)


class _WindowBlocksFn(beam.DoFn):
    """(a file's window, its documents in any order) -> its blocks, tagged by split."""

    def __init__(self, split_of: Callable[[Document], str], max_chars: int):
        self._split_of = split_of
        self._max_chars = max_chars

    def process(self, window_documents: Tuple[Tuple[str, int], Iterable[Document]]
                ) -> Iterator[TaggedOutput]:
        documents = sorted(window_documents[1], key=lambda doc: _position(doc.id)[2])
        yield from _split_blocks(documents, self._split_of, self._max_chars)


class ReadDocumentBlocks(beam.PTransform):
    """Document shards (``make_document_example`` records matching ``pattern``) -> blocks.

    The shards must keep each window of a file's documents together and in
    order, as ``file_order_key`` sorts them; each shard is read whole, in
    order, by one worker, and cut as ``document_blocks`` cuts.

    Example:
    >>> import os, tempfile
    >>> from cloze.data.features import serialize_document
    >>> from cloze.data.shards import WriteShards
    >>> out = tempfile.mkdtemp()
    >>> docs = [Document(f"a.txt:{n}", "x") for n in (3, 1, 2)]
    >>> with beam.Pipeline() as p:
    ...     _ = (p | beam.Create([[(file_order_key(d.id), serialize_document(d)) for d in docs]])
    ...          | WriteShards(out, num_shards=1))
    >>> with beam.Pipeline() as p:
    ...     _ = (p | ReadDocumentBlocks(os.path.join(out, "*"))
    ...          | beam.Map(print))
    DocumentBlock(ids=['a.txt:1', 'a.txt:2', 'a.txt:3'], texts=['x', 'x', 'x'])
    """

    def __init__(self, pattern: str, max_chars: int = BLOCK_CHARS):
        super().__init__()
        self._pattern = pattern
        self._max_chars = max_chars

    def expand(self, pbegin):
        return (pbegin
                | "MatchShards" >> fileio.MatchFiles(self._pattern)
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
                | "Spread" >> beam.Reshuffle()
                | "ReadBlocks" >> beam.FlatMap(functools.partial(
                    _shard_blocks, max_chars=self._max_chars)))


def _shard_blocks(path: str, max_chars: int) -> Iterator[DocumentBlock]:
    return document_blocks(_in_file_order(path), max_chars)


def _in_file_order(path: str) -> Iterator[Document]:
    """The documents of the shard at ``path``, checked to hold each window together, in order.

    That is what cutting blocks needs (the order of the windows does not
    matter), checked from the ids alone, without hashing them again.
    """
    seen_windows, last = set(), ("", 0, 0)
    for number, record in tfrecord_records(path):
        doc = parse_document_example(record)
        file, window_index, line = _position(doc.id)
        window = (file, window_index)
        out_of_order = line <= last[2] if window == last[:2] else window in seen_windows
        if out_of_order:
            raise CorpusError(
                f"{path}:{number}: document {doc.id!r} is out of file order; document shards "
                "must keep each window of a file's documents together and in line order, as "
                "ingest_corpus writes them (shards from before that, or from another writer, "
                "must be ingested again)")
        seen_windows.add(window)
        last = (*window, line)
        yield doc
