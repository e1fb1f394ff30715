"""A big file read in parts by several workers gives exactly the documents and bytes of one read."""
import dataclasses
import gzip
import json
import os
import random

import apache_beam as beam
import pytest

from cloze.config import CorpusConfig, DataConfig, VocabConfig
from cloze.data import corpus
from cloze.data.blocks import BlockCutter
from cloze.data.corpus import CorpusError, CorpusPart, ReadDocumentsFn, file_parts
from cloze.data.jobs import (ingest_corpus, make_masked_lm_examples,
                             make_masked_lm_examples_from_corpus)

WINDOW = 8


def paragraphs(seed: int) -> bytes:
    """Documents of 1 to 12 lines between blank lines of every kind the reader knows."""
    rng = random.Random(seed)
    separators = [b"\n", b"   \n", b"\t\r\n", "\u3000\n".encode(), b"\n\n\n"]
    lines = []
    for number in range(400):
        for line in range(rng.randint(1, 12)):
            word = rng.choice(["alpha", "beta", "Gamma.", "d\xe9j\xe0", "\u4e2d\u6587"])
            ending = b"\r\n" if rng.random() < 0.1 else b"\n"
            lines.append(f"doc {number} line {line} {word}".encode() + ending)
        lines.append(rng.choice(separators))
    lines.insert(300, b"bad \xff byte\n")
    return b"".join(lines)


def read(part: CorpusPart, config: CorpusConfig) -> list:
    fn = ReadDocumentsFn(config)
    fn.setup()
    return list(fn.process(part))


@pytest.mark.parametrize("kind", ["paragraphs", "lines", "jsonl"])
@pytest.mark.parametrize("seed,on_invalid_utf8", [(0, "replace"), (1, "skip"), (2, "replace")])
def test_the_parts_of_a_file_hold_its_documents_once_each(tmp_path, kind, seed, on_invalid_utf8):
    config = CorpusConfig(paths=(str(tmp_path),), on_invalid_utf8=on_invalid_utf8,
                          one_document_per_line=kind == "lines")
    data = paragraphs(seed)
    if seed == 2:  # no line break at the end, and lines longer than a backward read
        data = data.replace(b"doc 200 line 0", b" " * 5000 + b"\n" + b"x" * 5000) + b"end"
    if kind == "jsonl":
        data = b"".join(json.dumps({"text": line.decode("utf-8", "replace")}).encode() + b"\n"
                        for line in data.split(b"\n"))
    path = tmp_path / ("a.jsonl" if kind == "jsonl" else "a.txt")
    path.write_bytes(data)

    parts = file_parts(str(path), path.name, part_bytes=len(data) // 9, window_lines=WINDOW)

    assert 6 <= len(parts) <= 10
    assert [part.first_line for part in parts[1:]] == [part.end_line for part in parts[:-1]]
    assert all((part.first_line - 1) % WINDOW == 0 for part in parts)
    whole = read(CorpusPart(str(path), path.name), config)
    assert len(whole) > 100
    assert [doc for part in parts for doc in read(part, config)] == whole


def test_a_part_that_starts_inside_a_document_leaves_it_to_the_part_before(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"".join(b"one long document line %d\n" % n for n in range(40)) + b"\nlast\n")
    config = CorpusConfig(paths=(str(tmp_path),))

    parts = file_parts(str(path), "a.txt", part_bytes=200, window_lines=WINDOW)

    assert len(parts) > 3
    documents = [read(part, config) for part in parts]
    assert [len(docs) for docs in documents] == [1] + [0] * (len(parts) - 2) + [1]
    assert documents[0][0].text.count("\n") == 39


@pytest.mark.parametrize("name,data", [
    ("a.txt", b"x\n" * 90),  # under twice the part size
    ("b.txt.gz", gzip.compress(b"x\n" * 1000)), ("c.TXT.GZ", gzip.compress(b"x\n" * 1000)),
    ("d.txt.zst", b"x\n" * 1000),  # compressed: offsets would not be the text's
    ("e.csv", b"text\n" + b"x\n" * 1000),  # a quoted field may hold line breaks
    ("blank.txt", b" \n" * 1000)])  # no document: read whole, to count as an empty file
def test_small_compressed_csv_and_blank_files_are_read_whole(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)

    assert file_parts(str(tmp_path / name), name, part_bytes=100, window_lines=WINDOW) == [
        CorpusPart(str(tmp_path / name), name)]


def test_a_file_name_with_glob_characters_is_cut_and_read(tmp_path):
    path = tmp_path / "wiki[1]*.txt"
    path.write_bytes(paragraphs(4))
    config = CorpusConfig(paths=(str(tmp_path),), on_invalid_utf8="replace")

    parts = file_parts(str(path), path.name, part_bytes=2_000, window_lines=WINDOW)

    assert len(parts) > 3
    assert [doc for part in parts for doc in read(part, config)] == read(
        CorpusPart(str(path), path.name), config)


def test_invalid_utf8_in_a_later_part_fails_naming_its_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"".join(b"line %d.\n\n" % n for n in range(500)) + b"bad \xff\n")
    parts = file_parts(str(path), "a.txt", part_bytes=1_000, window_lines=WINDOW)

    with pytest.raises(CorpusError, match="a.txt:1001: invalid UTF-8"):
        read(parts[-1], CorpusConfig(paths=(str(tmp_path),)))


def test_blocks_end_at_window_starts():
    cutter = BlockCutter(window_lines=WINDOW)
    closed = [cutter.add(corpus.Document(f"a.txt:{line}", "x")) for line in (1, 8, 9, 17, 24)]

    assert [block.ids for block in closed if block] == [["a.txt:1", "a.txt:8"], ["a.txt:9"]]
    assert cutter.rest().ids == ["a.txt:17", "a.txt:24"]


def test_reading_parts_writes_the_bytes_of_reading_files_or_documents_whole(
        tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "PART_BYTES", 4_000)
    monkeypatch.setattr(corpus, "WINDOW_LINES", WINDOW)
    (tmp_path / "corpus").mkdir()
    text = tmp_path / "corpus" / "a.txt"
    text.write_bytes(paragraphs(3).replace(b"\xff", b"?"))
    assert len(file_parts(str(text), "a.txt")) > 5
    words = {word.lower() for word in text.read_text().split()}
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]))
    config = DataConfig(max_seq_length=32, max_predictions_per_seq=5, eval_percent=20,
                        num_shards=2, packing_buckets=3)
    corpus_config = CorpusConfig(paths=(str(tmp_path / "corpus"),))

    one = make_masked_lm_examples_from_corpus(beam.Pipeline(), corpus_config, str(vocab),
                                              VocabConfig(), config, str(tmp_path / "one"))
    with monkeypatch.context() as whole_files:
        whole_files.setattr(corpus, "PART_BYTES", 1 << 30)
        make_masked_lm_examples_from_corpus(beam.Pipeline(), corpus_config, str(vocab),
                                            VocabConfig(), config, str(tmp_path / "whole"))
    # Deduplicating regroups the documents by file window: the same blocks (no duplicates here).
    make_masked_lm_examples_from_corpus(
        beam.Pipeline(), dataclasses.replace(corpus_config, deduplicate=True), str(vocab),
        VocabConfig(), config, str(tmp_path / "dedup"))
    ingested = ingest_corpus(beam.Pipeline(), corpus_config, config.eval_percent,
                             str(tmp_path / "documents"))
    two = make_masked_lm_examples(beam.Pipeline(), str(tmp_path / "documents"), str(vocab),
                                  VocabConfig(), config, str(tmp_path / "two"))

    assert one == {**ingested, **two}
    assert ingested["files_read"] == 1
    # The file's windows are spread over a shard per PART_BYTES, each read by one worker.
    shards = os.listdir(tmp_path / "documents" / "Split-train")
    assert len(shards) == len(text.read_bytes()) // 4_000 > 5
    for split in ("train", "eval"):
        names = sorted(os.listdir(tmp_path / "two" / f"Split-{split}"))
        assert sorted(os.listdir(tmp_path / "one" / f"Split-{split}")) == names
        for name in names:
            written = {(tmp_path / job / f"Split-{split}" / name).read_bytes()
                       for job in ("one", "two", "whole", "dedup")}
            assert len(written) == 1


@pytest.mark.parametrize("line,blank", [(b" " * 5000, True), (b"y" + b" " * 5000, False),
                                        ("\u3000".encode() * 2000, True), (b"", True),
                                        (b"\xff" + b" " * 5000, False)])
def test_the_line_before_a_part_is_read_backwards_whatever_its_length(tmp_path, line, blank):
    path = tmp_path / "a.txt"
    path.write_bytes(b"first\n" + line + b"\nnext\n")

    assert corpus._line_before_is_blank(str(path), len(b"first\n" + line + b"\n")) is blank
