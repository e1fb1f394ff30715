"""Reading a raw text corpus into documents.

A corpus is a set of files on any filesystem Beam can read (local, ``gs://``,
...), optionally gzip- or bzip2-compressed (``.gz``, ``.bz2``). The file name,
less the compression suffix, picks the format:

* ``*.jsonl``, ``*.json``: JSON Lines, one JSON object per line whose
  ``corpus.text_field`` holds one document's text.
* ``*.tfrecord``, ``*.tfrecords``: TFRecords of ``tf.train.Example`` whose
  bytes feature ``corpus.text_field`` holds the text (record checksums are
  not verified).
* ``*.parquet``: Parquet, column ``corpus.text_field`` (not compressed outside).
* ``*.csv``: CSV with a header row, column ``corpus.text_field``.
* anything else: plain text where a blank (whitespace-only) line separates
  documents, or, with ``corpus.one_document_per_line``, each non-blank line is
  one; the lines of one document are joined with ``"\\n"``.

Files are read streaming, so every error can name ``path:line`` (the record or
row number for TFRecord and Parquet). A document's id is ``"<path below the
corpus root>:<line>"``, which stays the same when the whole corpus directory
moves. Documents are then normalised (``normalize_text``), checked against
``corpus.max_document_bytes`` and, with ``corpus.deduplicate``, deduplicated.
"""
from __future__ import annotations

import collections
import csv
import functools
import hashlib
import io
import itertools
import json
import logging
import os
import re
import struct
import unicodedata
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics, MetricsFilter

from cloze.config import CorpusConfig

COUNTER_NAMESPACE = "cloze"
COMPRESSION_SUFFIXES = (".gz", ".bz2")
FORMAT_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".tfrecord": "tfrecord",
                   ".tfrecords": "tfrecord", ".parquet": "parquet", ".csv": "csv"}
_GLOB_CHARACTERS = "*?["
# A file's documents fall in windows of this many lines (records, for TFRecord
# and Parquet) by their first line; a block never spans two (``blocks``), so a
# big file can be read in parts of whole windows, one worker each.
WINDOW_LINES = 1 << 14
# An uncompressed plain-text or JSON Lines file of at least twice this many bytes
# is read in parts of at least this size (``file_parts``).
PART_BYTES = 4 << 20
_SCAN_BYTES = 16 << 20
# An ASCII byte that is not whitespace (str.isspace) ends the question of a blank line.
_ASCII_NON_SPACE = re.compile(rb"[\x00-\x08\x0e-\x1b!-\x7f]")

_NumberedLine = Tuple[int, bytes]


class _Skip(str):
    """Why a document read from a file is not kept, in place of its text.

    Its counter is ``documents_skipped_<reason>``.
    """


class _Replaced(str):
    """Text in which invalid UTF-8 was replaced by U+FFFD (``on_invalid_utf8="replace"``).

    Counted as ``documents_utf8_replaced`` when its document is kept.
    """


_INVALID_UTF8 = "invalid_utf8"
# (first line number, text or the reason it is skipped)
_ParsedDocument = Tuple[int, Union[str, _Skip]]


class CorpusError(ValueError):
    """The corpus cannot be read; the message names the file, line and what would be right.

    Example:
    >>> isinstance(CorpusError("a.jsonl:3: field 'text' is missing"), ValueError)
    True
    """


class Document(NamedTuple):
    """One document of the corpus: a stable id and its text.

    Example:
    >>> Document(id="wiki/a.txt:1", text="First line.\\nSecond line.").id
    'wiki/a.txt:1'
    """

    id: str
    text: str


def expand_corpus_paths(paths: Sequence[str]) -> list[str]:
    """Expands files, directories and globs into the sorted, unique files they name.

    A directory stands for every file below it, recursively. Hidden files (a
    name starting with ``.``) below a directory or matched by a glob are left
    out; a file named explicitly is kept. Works on every filesystem Beam knows.

    Raises:
        CorpusError: ``paths`` is empty, or names the entries that matched nothing.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "sub").mkdir()
    >>> for name in ("a.txt", "sub/b.txt.gz", ".hidden"):
    ...     _ = (root / name).write_text("x")
    >>> [p[len(str(root)):] for p in expand_corpus_paths([str(root)])]
    ['/a.txt', '/sub/b.txt.gz']
    """
    if not paths:
        raise CorpusError(
            "corpus.paths is empty; give files, directories or globs, or write the built-in "
            "corpus with cloze.data.default_corpus.write_default_corpus and give its directory.")
    found, unmatched = set(), []
    for pattern in paths:
        files = _expand_one(pattern)
        found.update(files)
        if not files:
            unmatched.append(pattern)
    if unmatched:
        raise CorpusError(
            f"corpus.paths: nothing matched {', '.join(map(repr, unmatched))}; "
            "expected existing files, directories or globs.")
    return sorted(found)


def _expand_one(pattern: str) -> list[str]:
    if any(c in pattern for c in _GLOB_CHARACTERS):
        return [p for p in _match_files(pattern) if not _is_hidden(p.rsplit("/", 1)[-1])]
    # Object stores have no directories, so "is it a directory?" is asked by
    # listing below it; a file has nothing below it.
    directory = pattern.rstrip("/")
    below = [p for p in _match_files(directory + "/**")
             if not any(map(_is_hidden, p[len(directory) + 1:].split("/")))]
    return below or _match_files(pattern)


def _match_files(pattern: str) -> list[str]:
    # The local filesystem is the only one that lists directories as matches.
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list
            if not (FileSystems.get_scheme(m.path) is None and os.path.isdir(m.path))]


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _relative_paths(paths: Sequence[str]) -> dict[str, str]:
    """Maps each path to its path below the deepest directory that holds them all.

    Example:
    >>> _relative_paths(["gs://b/corpus/a.txt", "gs://b/corpus/web/b.jsonl"])
    {'gs://b/corpus/a.txt': 'a.txt', 'gs://b/corpus/web/b.jsonl': 'web/b.jsonl'}
    """
    split = [p.split("/") for p in paths]
    # commonprefix compares lists element by element, i.e. whole path components.
    depth = len(os.path.commonprefix([parts[:-1] for parts in split]))
    return {path: "/".join(parts[depth:]) for path, parts in zip(paths, split)}


class CorpusPart(NamedTuple):
    """The documents of a corpus file whose first line is in ``[first_line, end_line)``.

    What ``ReadDocumentsFn`` reads: a whole file (the defaults), or one of the
    parts ``file_parts`` cuts a big one into. ``start`` is the byte offset of
    ``first_line``; ``end_line`` None reads to the end of the file.

    Example:
    >>> CorpusPart("/data/a.txt", "a.txt").whole, CorpusPart("/data/a.txt", "a.txt", 900, 17).whole
    (True, False)
    """

    path: str
    relative_path: str
    start: int = 0
    first_line: int = 1
    end_line: Optional[int] = None

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end_line is None


def file_parts(path: str, relative_path: str, part_bytes: Optional[int] = None,
               window_lines: Optional[int] = None) -> List[CorpusPart]:
    """The parts of a corpus file that workers read side by side: runs of whole line windows.

    An uncompressed plain-text or JSON Lines file of at least ``2 * part_bytes``
    is cut at the first window start (line ``k * window_lines + 1``) after
    every ``part_bytes`` or more; anything else, or a file with no text, is
    one part. Both default to the module's ``PART_BYTES`` and ``WINDOW_LINES``,
    read at each call. Finding the window starts reads the file once (numpy
    counts its line breaks). Each document is read by the part its first line
    is in, whole, so the parts together give exactly the file's documents (in
    ``one_document_per_line`` mode and with blank-line-separated documents alike).

    Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_text("".join(f"line {n}\\n" for n in range(1, 11)))
    >>> [part[2:] for part in file_parts(str(path), "a.txt", part_bytes=20, window_lines=4)]
    [(0, 1, 5), (28, 5, 9), (56, 9, None)]
    """
    part_bytes, window_lines = part_bytes or PART_BYTES, window_lines or WINDOW_LINES
    whole = [CorpusPart(path, relative_path)]
    if not _splittable(path):
        return whole
    size = _file_size(path)
    if size < 2 * part_bytes:
        return whole
    window_starts, has_text = _scan(path, window_lines)
    if not has_text:  # read whole, so that it counts as an empty file
        return whole
    parts, start, first_line = [], 0, 1
    for line, offset in window_starts:
        if offset - start >= part_bytes and offset < size:
            parts.append(CorpusPart(path, relative_path, start, first_line, line))
            start, first_line = offset, line
    parts.append(CorpusPart(path, relative_path, start, first_line))
    return parts


def count_parts(paths: Sequence[str]) -> int:
    """About how many parts ``file_parts`` cuts the files of ``paths`` into, from their sizes.

    One per file, or one per ``PART_BYTES`` (read now) of a file it cuts.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("One.")
    >>> _ = (root / "b.txt").write_bytes(b"Two.\\n" * (PART_BYTES // 2))
    >>> count_parts([str(root)])
    3
    """
    return sum(max(1, _file_size(path) // PART_BYTES) if _splittable(path) else 1
               for path in expand_corpus_paths(paths))


def _splittable(path: str) -> bool:
    """Whether ``file_parts`` may cut the file: uncompressed plain text or JSON Lines."""
    return (corpus_format(path) in ("text", "jsonl")
            and CompressionTypes.detect_compression_type(path) == CompressionTypes.UNCOMPRESSED)


def _file_size(path: str) -> int:
    # Not FileSystems.match, which would read "[", "*" and "?" in a file's name as a glob.
    return FileSystems.get_filesystem(path).size(path)


def _scan(path: str, window_lines: int) -> Tuple[List[Tuple[int, int]], bool]:
    """(line number, byte offset) of the first line of every window but the first; any text?"""
    starts, has_text, lines, offset = [], False, 0, 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while True:
            chunk = f.read(_SCAN_BYTES)
            if not chunk:
                return starts, has_text
            has_text = has_text or bool(_ASCII_NON_SPACE.search(chunk)) or not _is_blank(chunk)
            breaks = np.flatnonzero(np.frombuffer(chunk, np.uint8) == ord("\n"))
            # Window k starts at line k * window_lines + 1, after line break number k * window_lines.
            for k in range(lines // window_lines + 1, (lines + len(breaks)) // window_lines + 1):
                starts.append((k * window_lines + 1,
                               offset + int(breaks[k * window_lines - lines - 1]) + 1))
            lines += len(breaks)
            offset += len(chunk)


def _is_blank(line: bytes) -> bool:
    """Whether ``line`` (or several) holds only whitespace; undecodable bytes are not blank."""
    if _ASCII_NON_SPACE.search(line):
        return False
    try:
        return not line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


def _after_continuation(part: CorpusPart) -> Optional[Tuple[int, int]]:
    """(byte offset, line number) where the documents of a part of a plain-text file may start.

    A part that starts inside a document (the line before is not blank)
    leaves that document's lines to the part before, which reads it whole:
    they are skipped, a line at a time, to the next blank line. None when they
    reach the part's end (or the file's): the part holds no document.
    """
    start, number = part.start, part.first_line
    if not start or _line_before_is_blank(part.path, start):
        return start, number
    with FileSystems.open(part.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.seek(start)
        for line in iter(f.readline, b""):
            if _is_blank(line):
                return start, number
            start, number = start + len(line), number + 1
            if part.end_line is not None and number >= part.end_line:
                return None
    return None


def _line_before_is_blank(path: str, start: int) -> bool:
    """Whether the line that ends with the line break at byte ``start - 1`` is blank.

    Read backwards; it usually takes one read of a few bytes.
    """
    pieces, end = [], start - 1
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while end > 0:
            begin = max(0, end - 4096)
            f.seek(begin)
            chunk = f.read(end - begin)
            line_start = chunk.rfind(b"\n") + 1
            pieces.append(chunk[line_start:])
            if _ASCII_NON_SPACE.search(pieces[-1]):
                return False
            if line_start:
                break
            end = begin
    return _is_blank(b"".join(reversed(pieces)))


class ListCorpusParts(beam.PTransform):
    """The ``CorpusPart`` of every file of ``config.paths`` (``file_parts``), spread out.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("One.")
    >>> import operator
    >>> with beam.Pipeline() as p:
    ...     _ = (p | ListCorpusParts(CorpusConfig(paths=(str(root),)))
    ...          | beam.Map(operator.attrgetter("relative_path")) | beam.Map(print))
    a.txt
    """

    def __init__(self, config: CorpusConfig):
        super().__init__()
        self._config = config

    def expand(self, pbegin):
        files = _relative_paths(expand_corpus_paths(self._config.paths))
        return (pbegin
                | "Create" >> beam.Create(sorted(files.items()))
                # Create makes one bundle; reshuffling lets workers cut and read files in parallel.
                | "SpreadFiles" >> beam.Reshuffle()
                | "Parts" >> beam.FlatMapTuple(file_parts)
                | "SpreadParts" >> beam.Reshuffle())


class ReadCorpus(beam.PTransform):
    """Reads the files of ``config.paths`` into a ``PCollection`` of ``Document``.

    Apply it to the pipeline. Counters (namespace ``"cloze"``): ``files_read``
    (every file matched), ``files_skipped_empty`` (of those, the empty or
    whitespace-only ones), ``documents_read`` (every document found),
    ``documents_skipped_empty``, ``documents_skipped_invalid_utf8``,
    ``documents_skipped_too_large`` and ``documents_skipped_duplicate`` (of
    those, the ones dropped); the output holds ``documents_read`` less the
    skipped, of which ``documents_utf8_replaced`` had invalid UTF-8 replaced
    by U+FFFD (``corpus.on_invalid_utf8="replace"``).

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("First document.\\n\\n\\nSecond\\ndocument.\\n")
    >>> with beam.Pipeline() as p:
    ...     _ = p | ReadCorpus(CorpusConfig(paths=(str(root),))) | beam.Map(print)
    Document(id='a.txt:1', text='First document.')
    Document(id='a.txt:4', text='Second\\ndocument.')
    """

    def __init__(self, config: CorpusConfig):
        super().__init__()
        self._config = config

    def expand(self, pbegin):
        documents = (pbegin
                     | "ListParts" >> ListCorpusParts(self._config)
                     | "ReadDocuments" >> beam.ParDo(ReadDocumentsFn(self._config)))
        if self._config.deduplicate:
            documents = documents | "DropDuplicates" >> _DropDuplicates()
        return documents


class ReadDocumentsFn(beam.DoFn):
    """A ``CorpusPart`` -> its documents in order, counting what it reads and skips.

    A file counts in ``files_read`` once, by its first part; a file with no
    document is always read whole (``file_parts``), and counts in
    ``files_skipped_empty``.
    """

    _COUNTERS = ("files_read", "files_skipped_empty", "documents_read",
                 "documents_skipped_empty", "documents_skipped_invalid_utf8",
                 "documents_skipped_too_large", "documents_utf8_replaced")

    def __init__(self, config: CorpusConfig):
        self._config = config
        self._count = {name: Metrics.counter(COUNTER_NAMESPACE, name) for name in self._COUNTERS}

    def setup(self):
        # The csv module's own field cap (128 KB) would fail long documents;
        # corpus.max_document_bytes is the cap that skips and counts them.
        csv.field_size_limit(max(csv.field_size_limit(), 4 * self._config.max_document_bytes))

    def process(self, part: CorpusPart) -> Iterator[Document]:
        part = CorpusPart(*part)
        path, relative_path = part.path, part.relative_path
        # Counted here and added to the Beam counters once per part: an inc costs microseconds.
        counts = collections.Counter(files_read=int(part.start == 0))
        try:
            for first_line, text in self._parse(part):
                counts["documents_read"] += 1
                if isinstance(text, _Skip):
                    counts[f"documents_skipped_{text}"] += 1
                elif _utf8_length_over(text, self._config.max_document_bytes):
                    counts["documents_skipped_too_large"] += 1
                else:
                    replaced = isinstance(text, _Replaced)
                    text = normalize_text(text, self._config)
                    if text.strip():
                        counts["documents_utf8_replaced"] += replaced
                        yield Document(f"{relative_path}:{first_line}", text)
                    else:
                        counts["documents_skipped_empty"] += 1
            if part.whole and not counts["documents_read"]:
                counts["files_skipped_empty"] += 1
                logging.warning("Skipping corpus file %s: it is empty or only whitespace.", path)
        finally:
            for name, value in counts.items():
                if value:
                    self._count[name].inc(value)

    def _parse(self, part: CorpusPart) -> Iterator[_ParsedDocument]:
        config, path = self._config, part.path
        decode = functools.partial(_decode, path=path, on_invalid_utf8=config.on_invalid_utf8)
        file_format = corpus_format(path)
        if file_format == "tfrecord":
            return _tfrecord_documents(path, decode, config.text_field)
        if file_format == "parquet":
            return _parquet_documents(path, config.text_field)
        if file_format == "csv":
            return _csv_documents(path, decode, config.text_field)
        if file_format == "jsonl":
            documents = _json_lines_documents(_numbered_lines(path, part.start, part.first_line),
                                              decode, path, config.text_field)
        elif config.one_document_per_line:
            documents = ((number, decode(line, number)) for number, line
                         in _numbered_lines(path, part.start, part.first_line) if line.strip())
        else:
            begin = _after_continuation(part)
            documents = iter(()) if begin is None else _plain_text_documents(path, decode, *begin)
        if part.end_line is None:
            return documents
        return itertools.takewhile(lambda doc: doc[0] < part.end_line, documents)


def corpus_format(path: str) -> str:
    """The format a corpus file is read as, from its name less ``.gz``/``.bz2``.

    Example:
    >>> [corpus_format(p) for p in ("a.jsonl.gz", "b.tfrecord", "c.csv.bz2", "d.txt", "e")]
    ['jsonl', 'tfrecord', 'csv', 'text', 'text']
    """
    name = path.rsplit("/", 1)[-1]
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return FORMAT_SUFFIXES.get(os.path.splitext(name)[1], "text")


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")


def normalize_text(text: str, config: CorpusConfig) -> str:
    """Applies the corpus's normalisation options to one document, in the order listed.

    ``config.normalization`` (NFC or NFKC), ``lower_case``, ``strip_accents``
    (NFD, then combining marks removed) and ``clean_whitespace`` (control
    characters but ``\\n`` and ``\\t`` removed, runs of other whitespace made
    one space, spaces around line breaks and at both ends removed).

    Example:
    >>> config = CorpusConfig(normalization="NFKC", lower_case=True, strip_accents=True,
    ...                       clean_whitespace=True)
    >>> normalize_text("  Ｃafé\\x00  Crème \\n brûlée ", config)
    'cafe creme\\nbrulee'
    """
    if config.normalization != "none":
        text = unicodedata.normalize(config.normalization, text)
    if config.lower_case:
        text = text.lower()
    if config.strip_accents:
        text = "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")
    if config.clean_whitespace:
        text = _SPACES.sub(" ", _CONTROL_CHARACTERS.sub("", text))
        text = text.replace(" \n", "\n").replace("\n ", "\n").strip()
    return text


def _utf8_length_over(text: str, limit: int) -> bool:
    # A code point is at most 4 bytes (a surrogate 3), so short texts need no encoding.
    return len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit


def _numbered_lines(path: str, start: int = 0, first_number: int = 1
                    ) -> Iterator[_NumberedLine]:
    """(line number, line without its line break) from byte ``start``, line ``first_number``."""
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        if start:
            f.seek(start)
        yield from _numbered(iter(f.readline, b""), first_number)


def _numbered(lines: Iterable[bytes], first_number: int) -> Iterator[_NumberedLine]:
    """(line number from ``first_number``, line without ``\\n`` and one ``\\r``) of ``lines``."""
    for number, line in enumerate(lines, start=first_number):
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        yield number, line


def _decode(line: bytes, number: int, path: str, on_invalid_utf8: str) -> Union[str, _Skip]:
    """The line as text, by ``on_invalid_utf8`` when it is not UTF-8: fail, skip or replace."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        if on_invalid_utf8 == "skip":
            return _Skip(_INVALID_UTF8)
        if on_invalid_utf8 == "replace":
            return _Replaced(line.decode("utf-8", "replace"))
        raise CorpusError(
            f"{path}:{number}: invalid UTF-8 at byte {error.start + 1} of the line "
            f"(0x{line[error.start]:02x}); fix the file or set corpus.on_invalid_utf8='skip' "
            "(or 'replace')") from None


# Plain text is read in blocks of at least this many bytes, each ending after a blank line.
_BLOCK_BYTES = 1 << 20
# A run of lines that each hold something other than whitespace: one document.
# Anchored at line starts, so a long blank line is passed in linear time.
_DOCUMENT = re.compile(r"^[^\S\n]*\S[^\n]*(?:\n[^\S\n]*\S[^\n]*)*", re.MULTILINE)
# The one carriage return that ends a line (Windows line breaks).
_LINE_END_CR = re.compile(r"\r(?=\n|\Z)")


def _plain_text_documents(path: str, decode: Callable[[bytes, int], Union[str, _Skip]],
                          start: int = 0, first_number: int = 1) -> Iterator[_ParsedDocument]:
    """Groups the lines between blank lines into documents, a block of the file at a time.

    Reads from byte ``start``, whose line is number ``first_number``. A block
    that is valid UTF-8 is decoded and cut by regular expression in one go;
    one that is not goes line by line, so ``decode`` can name the line.
    """
    for block in _blocks_of_documents(path, start):
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            yield from _grouped_lines(_numbered(io.BytesIO(block), first_number), decode)
        else:
            yield from _block_documents(text, first_number)
        first_number += block.count(b"\n")


def _blocks_of_documents(path: str, start: int = 0) -> Iterator[bytes]:
    """The file from byte ``start`` in blocks of whole lines that each end after a blank line.

    (Or at the end.) So no document spans two blocks. Only ASCII whitespace
    is looked for here; other blank lines still separate documents inside a block.
    """
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        if start:
            f.seek(start)
        while True:
            block = f.read(_BLOCK_BYTES)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += f.readline()
            parts = [block]
            last_line = block[block.rfind(b"\n", 0, len(block) - 1) + 1:]
            while last_line.strip():
                last_line = f.readline()
                parts.append(last_line)
            yield b"".join(parts)


def _block_documents(text: str, first_number: int) -> Iterator[Tuple[int, str]]:
    """The documents of decoded ``text`` whose first line is number ``first_number``."""
    number, position = first_number, 0
    for match in _DOCUMENT.finditer(text):
        number += text.count("\n", position, match.start())
        position = match.start()
        document = match.group()
        yield number, _LINE_END_CR.sub("", document) if "\r" in document else document


def _grouped_lines(lines: Iterable[_NumberedLine],
                   decode: Callable[[bytes, int], Union[str, _Skip]]
                   ) -> Iterator[_ParsedDocument]:
    """Groups the lines between blank lines into documents, decoding line by line."""
    decoded = ((number, decode(line, number)) for number, line in lines)

    def is_blank(numbered_text):
        # An undecodable line holds non-ASCII bytes, so it is never blank.
        return not isinstance(numbered_text[1], _Skip) and not numbered_text[1].strip()

    for blank, group in itertools.groupby(decoded, key=is_blank):
        if not blank:
            numbers, texts = zip(*group)
            skipped = [text for text in texts if isinstance(text, _Skip)]
            text = "\n".join(texts)
            if any(isinstance(line, _Replaced) for line in texts):
                text = _Replaced(text)
            yield numbers[0], skipped[0] if skipped else text


def _json_lines_documents(lines: Iterable[_NumberedLine],
                          decode: Callable[[bytes, int], Union[str, _Skip]],
                          path: str, text_field: str) -> Iterator[_ParsedDocument]:
    """One document per non-blank line, its text in ``text_field``."""
    for number, line in lines:
        text = decode(line, number)
        if isinstance(text, _Skip):
            yield number, text
        elif text.strip():
            field = _json_text(text, f"{path}:{number}", text_field)
            yield number, _Replaced(field) if isinstance(text, _Replaced) else field


def _json_text(line: str, location: str, text_field: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CorpusError(
            f"{location}: invalid JSON ({error.msg} at column {error.colno}); files named "
            f"{', '.join('*' + s for s, f in FORMAT_SUFFIXES.items() if f == 'jsonl')} "
            "must hold one JSON object per line"
        ) from None
    if not isinstance(record, dict):
        raise CorpusError(f"{location}: expected a JSON object with field {text_field!r}, "
                          f"got a JSON {type(record).__name__}")
    if text_field not in record:
        fields = ", ".join(map(repr, sorted(record)[:10])) or "none"
        raise CorpusError(f"{location}: field {text_field!r} is missing (fields: {fields}); "
                          "set corpus.text_field to the field that holds the text")
    text = record[text_field]
    if not isinstance(text, str):
        raise CorpusError(f"{location}: field {text_field!r} is {type(text).__name__} "
                          f"{json.dumps(text)[:50]}; expected a string")
    return text


def tfrecord_records(path: str) -> Iterator[Tuple[int, bytes]]:
    """(1-based record number, record) of the TFRecord file at ``path``, streaming.

    Checksums are not verified. Raises ``CorpusError`` naming the record on a
    truncated file.
    """
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        for number in itertools.count(1):
            header = f.read(12)  # uint64 length, then its masked CRC32C
            if not header:
                return
            length = struct.unpack("<Q", header[:8])[0] if len(header) == 12 else -1
            data = f.read(length) if length >= 0 else b""
            if len(data) != length or len(f.read(4)) != 4:
                raise CorpusError(f"{path}:{number}: truncated TFRecord record; expected a "
                                  "complete TFRecord file of tf.train.Example")
            yield number, data


def _tfrecord_documents(path: str, decode: Callable[[bytes, int], Union[str, _Skip]],
                        text_field: str) -> Iterator[_ParsedDocument]:
    """One document per ``tf.train.Example`` record, its text in bytes feature ``text_field``."""
    from tensorflow.core.example import example_pb2  # only this format needs the proto

    for number, data in tfrecord_records(path):
        feature = example_pb2.Example.FromString(data).features.feature
        values = feature[text_field].bytes_list.value if text_field in feature else []
        if len(values) != 1:
            present = ", ".join(sorted(feature)) or "none"
            raise CorpusError(f"{path}:{number}: no single bytes feature {text_field!r} "
                              f"(features: {present}); set corpus.text_field to the "
                              "feature that holds the text")
        yield number, decode(values[0], number)


def _parquet_documents(path: str, text_field: str) -> Iterator[_ParsedDocument]:
    """One document per row of column ``text_field``; a null is an empty document."""
    import pyarrow.parquet  # only this format needs pyarrow

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        parquet = pyarrow.parquet.ParquetFile(f)
        if text_field not in parquet.schema_arrow.names:
            raise CorpusError(f"{path}: column {text_field!r} is missing (columns: "
                              f"{', '.join(parquet.schema_arrow.names)}); set corpus.text_field")
        number = 0
        for batch in parquet.iter_batches(batch_size=256, columns=[text_field]):
            for text in batch.column(0).to_pylist():
                number += 1
                if text is not None and not isinstance(text, str):
                    raise CorpusError(f"{path}:{number}: column {text_field!r} holds "
                                      f"{type(text).__name__}; expected a string column")
                yield number, text or ""


def _csv_documents(path: str, decode: Callable[[bytes, int], Union[str, _Skip]],
                   text_field: str) -> Iterator[_ParsedDocument]:
    """One document per CSV row (after the header), its text in column ``text_field``."""
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as raw:
        # surrogateescape keeps undecodable bytes, so each row can be judged by the flag.
        reader = csv.DictReader(line.decode("utf-8", "surrogateescape")
                                for line in iter(raw.readline, b""))
        if reader.fieldnames is None:
            return
        if text_field not in reader.fieldnames:
            raise CorpusError(f"{path}:1: column {text_field!r} is missing (columns: "
                              f"{', '.join(reader.fieldnames)}); set corpus.text_field")
        first_line = reader.line_num + 1
        for row in reader:
            text = row[text_field] or ""
            yield first_line, decode(text.encode("utf-8", "surrogateescape"), first_line)
            first_line = reader.line_num + 1


class _DropDuplicates(beam.PTransform):
    """Keeps one document per distinct text, the one with the smallest id.

    Counter ``documents_skipped_duplicate`` counts the others.
    """

    def expand(self, documents):
        return (documents
                | "KeyByText" >> beam.Map(
                    lambda doc: (hashlib.sha256(doc.text.encode("utf-8", "surrogatepass"))
                                 .digest(), doc))
                | "GroupSameText" >> beam.GroupByKey()
                | "KeepFirst" >> beam.ParDo(_KeepFirstFn()))


class _KeepFirstFn(beam.DoFn):
    def __init__(self):
        self._duplicates = Metrics.counter(COUNTER_NAMESPACE, "documents_skipped_duplicate")

    def process(self, same_text: Tuple[bytes, Iterable[Document]]) -> Iterator[Document]:
        documents = list(same_text[1])
        self._duplicates.inc(len(documents) - 1)
        yield min(documents, key=lambda doc: doc.id)


def corpus_fingerprint(paths: Sequence[str]) -> str:
    """A digest of every corpus file's path, size and modification time.

    It changes when a file is added, removed or rewritten, which is what a
    pipeline cache key needs to notice a changed corpus behind unchanged paths.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("one")
    >>> before = corpus_fingerprint([str(root)])
    >>> _ = (root / "b.txt").write_text("two")
    >>> before == corpus_fingerprint([str(root)])
    False
    """
    digest = hashlib.sha256()
    for result in FileSystems.match(expand_corpus_paths(paths)):
        for metadata in result.metadata_list:
            digest.update(f"{metadata.path}\0{metadata.size_in_bytes}\0"
                          f"{metadata.last_updated_in_seconds}\n".encode("utf-8"))
    return digest.hexdigest()


def counter_values(result) -> dict[str, int]:
    """The committed ``"cloze"`` counters of a finished Beam ``PipelineResult``, by name.

    A counter that several steps report is summed; one never incremented is absent.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("One.\\n\\nTwo.\\n")
    >>> p = beam.Pipeline()
    >>> _ = p | ReadCorpus(CorpusConfig(paths=(str(root),)))
    >>> result = p.run()
    >>> _ = result.wait_until_finish()
    >>> counter_values(result)
    {'documents_read': 2, 'files_read': 1}
    """
    query = result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))
    totals = collections.Counter()
    for counter in query["counters"]:
        totals[counter.key.metric.name] += counter.committed
    return dict(sorted(totals.items()))
