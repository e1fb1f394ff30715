"""The built-in corpus: prose from the installed Python standard library.

It needs no download, so a first run works offline. Its documents are the
docstrings (module, class and function) and the comment blocks (consecutive
full-line ``#`` comments) of the standard library's ``.py`` files: English
technical prose, a few MB of it, which is plenty for a small BERT to learn from.
"""
from __future__ import annotations

import ast
import io
import itertools
import os
import sysconfig
import tokenize
import warnings
from typing import Iterable, Iterator, Tuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CORPUS_FILE_NAME = "stdlib_docs.txt"
MIN_DOCUMENT_CHARS = 40
# Tests hold code and odd encodings on purpose; the others are not library prose.
_SKIPPED_DIRECTORIES = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"})

_DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
# (line number, text) of one docstring or comment block.
_Passage = Tuple[int, str]


def write_default_corpus(out_dir: str, max_bytes: int) -> str:
    """Writes the built-in corpus as plain text into ``out_dir`` and returns ``out_dir``.

    The file ``stdlib_docs.txt`` holds one document per paragraph (a blank line
    between documents, none inside one), at most ``max_bytes`` bytes: writing
    stops before the first document that would not fit. The same Python
    install gives the same bytes on every call.

    Example:
    >>> import pathlib, tempfile
    >>> out_dir = write_default_corpus(tempfile.mkdtemp(), max_bytes=20_000)
    >>> text = (pathlib.Path(out_dir) / CORPUS_FILE_NAME).read_text()
    >>> 10_000 < len(text.encode()) <= 20_000
    True
    """
    path = FileSystems.join(out_dir, CORPUS_FILE_NAME)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for chunk in _up_to(max_bytes, (document.encode() + b"\n\n"
                                        for document in stdlib_documents())):
            f.write(chunk)
    return out_dir


def _up_to(max_bytes: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The leading chunks whose total size is at most ``max_bytes``."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            return
        yield chunk


def stdlib_documents() -> Iterator[str]:
    """Yields the standard library's cleaned docstrings and comment blocks.

    Files come in sorted path order, passages in source order; passages shorter
    than ``MIN_DOCUMENT_CHARS`` are dropped, and so are files that fail to parse.

    Example:
    >>> first = next(stdlib_documents())
    >>> len(first) >= MIN_DOCUMENT_CHARS and "\\n\\n" not in first
    True
    """
    root = sysconfig.get_paths()["stdlib"]
    for relative_path in _stdlib_sources(root):
        for _, text in _passages(os.path.join(root, relative_path)):
            document = _without_blank_lines(text)
            if len(document) >= MIN_DOCUMENT_CHARS:
                yield document


def _stdlib_sources(root: str) -> list[str]:
    """The sorted ``.py`` paths below ``root``, relative to it, skipping non-library dirs."""
    sources = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories
                             if d not in _SKIPPED_DIRECTORIES and not d.startswith(".")]
        relative = os.path.relpath(directory, root)
        sources.extend(os.path.normpath(os.path.join(relative, name))
                       for name in files if name.endswith(".py"))
    return sorted(sources)


def _passages(path: str) -> list[_Passage]:
    """Docstrings and comment blocks of one source file in source order; [] if it fails to parse."""
    try:
        with tokenize.open(path) as f:  # honours the file's coding cookie
            source = f.read()
        with warnings.catch_warnings():
            # Old stdlib files hold escape sequences that newer Pythons warn about.
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
        return sorted(itertools.chain(_docstrings(tree), _comment_blocks(source)))
    except (SyntaxError, ValueError, tokenize.TokenError):
        return []


def _docstrings(tree: ast.AST) -> Iterator[_Passage]:
    for node in ast.walk(tree):
        if isinstance(node, _DOCSTRING_OWNERS):
            docstring = ast.get_docstring(node, clean=True)  # inspect.cleandoc
            if docstring:
                yield node.body[0].lineno, docstring


def _comment_blocks(source: str) -> Iterator[_Passage]:
    comments = [(token.start[0], token.string.lstrip("#").strip())
                for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT and not token.line[:token.start[1]].strip()]
    # Lines n, n+1, n+2, ... at list positions i, i+1, i+2, ... share n - i.
    for _, block in itertools.groupby(enumerate(comments), key=lambda ic: ic[1][0] - ic[0]):
        lines = [comment for _, comment in block]
        yield lines[0][0], "\n".join(text for _, text in lines)


def _without_blank_lines(text: str) -> str:
    """Drops blank lines, which would split the document when it is read back."""
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())
