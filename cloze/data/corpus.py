"""Reading a raw text corpus into documents.

A corpus is a set of files on any filesystem Beam can read (local, ``gs://``,
...), optionally gzipped. The file name picks the format:

* ``*.jsonl``, ``*.jsonl.gz``, ``*.json``, ``*.json.gz``: JSON Lines, one JSON
  object per line whose ``corpus.text_field`` holds one document's text.
* anything else: plain text where a blank (whitespace-only) line separates
  documents; the lines of one document are joined with ``"\\n"``.

Files are read streaming, one line at a time as bytes, so every error can name
``path:line``. A document's id is ``"<path below the corpus root>:<first line>"``,
which stays the same when the whole corpus directory moves.
"""
from __future__ import annotations

import collections
import functools
import itertools
import json
import logging
import os
from typing import Callable, Iterable, Iterator, NamedTuple, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics, MetricsFilter

from cloze.config import CorpusConfig

COUNTER_NAMESPACE = "cloze"
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
_GLOB_CHARACTERS = "*?["

_NumberedLine = Tuple[int, bytes]
# (first line number, text); text is None when the document is not valid UTF-8.
_ParsedDocument = Tuple[int, Optional[str]]


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


class ReadCorpus(beam.PTransform):
    """Reads the files of ``config.paths`` into a ``PCollection`` of ``Document``.

    Apply it to the pipeline. Counters (namespace ``"cloze"``): ``files_read``
    (every file matched), ``files_skipped_empty`` (of those, the empty or
    whitespace-only ones), ``documents_read`` (every document found),
    ``documents_skipped_empty`` and ``documents_skipped_invalid_utf8`` (of those,
    the ones dropped); the output holds ``documents_read`` less the skipped.

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
        files = _relative_paths(expand_corpus_paths(self._config.paths))
        return (pbegin
                | "ListFiles" >> beam.Create(sorted(files.items()))
                # Create makes one bundle; reshuffling lets workers read files in parallel.
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadDocuments" >> beam.ParDo(_ReadDocumentsFn(self._config)))


class _ReadDocumentsFn(beam.DoFn):
    """(path, relative path) -> the file's documents, counting what it reads and skips."""

    _COUNTERS = ("files_read", "files_skipped_empty", "documents_read",
                 "documents_skipped_empty", "documents_skipped_invalid_utf8")

    def __init__(self, config: CorpusConfig):
        self._config = config
        self._count = {name: Metrics.counter(COUNTER_NAMESPACE, name) for name in self._COUNTERS}

    def process(self, file: Tuple[str, str]) -> Iterator[Document]:
        path, relative_path = file
        self._count["files_read"].inc()
        is_empty = True
        for first_line, text in self._parse(path):
            is_empty = False
            self._count["documents_read"].inc()
            if text is None:
                self._count["documents_skipped_invalid_utf8"].inc()
            elif not text.strip():
                self._count["documents_skipped_empty"].inc()
            else:
                yield Document(f"{relative_path}:{first_line}", text)
        if is_empty:
            self._count["files_skipped_empty"].inc()
            logging.warning("Skipping corpus file %s: it is empty or only whitespace.", path)

    def _parse(self, path: str) -> Iterator[_ParsedDocument]:
        lines = _numbered_lines(path)
        decode = functools.partial(_decode, path=path, on_invalid_utf8=self._config.on_invalid_utf8)
        if path.endswith(JSON_LINES_SUFFIXES):
            return _json_lines_documents(lines, decode, path, self._config.text_field)
        return _plain_text_documents(lines, decode)


def _numbered_lines(path: str) -> Iterator[_NumberedLine]:
    """Yields (1-based line number, line without its line break), streaming the file."""
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        for number, line in enumerate(iter(f.readline, b""), start=1):
            if line.endswith(b"\n"):
                line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
            yield number, line


def _decode(line: bytes, number: int, path: str, on_invalid_utf8: str) -> Optional[str]:
    """The line as text; None when it is not UTF-8 and ``on_invalid_utf8`` is ``"skip"``."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        if on_invalid_utf8 == "skip":
            return None
        raise CorpusError(
            f"{path}:{number}: invalid UTF-8 at byte {error.start + 1} of the line "
            f"(0x{line[error.start]:02x}); fix the file or set corpus.on_invalid_utf8='skip'"
        ) from None


def _plain_text_documents(lines: Iterable[_NumberedLine],
                          decode: Callable[[bytes, int], Optional[str]]
                          ) -> Iterator[_ParsedDocument]:
    """Groups the lines between blank lines into documents."""
    decoded = ((number, decode(line, number)) for number, line in lines)

    def is_blank(numbered_text):
        # An undecodable line holds non-ASCII bytes, so it is never blank.
        return numbered_text[1] is not None and not numbered_text[1].strip()

    for blank, group in itertools.groupby(decoded, key=is_blank):
        if not blank:
            numbers, texts = zip(*group)
            yield numbers[0], None if None in texts else "\n".join(texts)


def _json_lines_documents(lines: Iterable[_NumberedLine],
                          decode: Callable[[bytes, int], Optional[str]],
                          path: str, text_field: str) -> Iterator[_ParsedDocument]:
    """One document per non-blank line, its text in ``text_field``."""
    for number, line in lines:
        text = decode(line, number)
        if text is None:
            yield number, None
        elif text.strip():
            yield number, _json_text(text, f"{path}:{number}", text_field)


def _json_text(line: str, location: str, text_field: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CorpusError(
            f"{location}: invalid JSON ({error.msg} at column {error.colno}); files named "
            f"{', '.join('*' + s for s in JSON_LINES_SUFFIXES)} must hold one JSON object per line"
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
