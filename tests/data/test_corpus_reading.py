"""ReadCorpus and expand_corpus_paths on tiny corpora, through real DirectRunner pipelines."""
import bz2
import csv
import gzip
import json
import os
import shutil

import apache_beam as beam
import pyarrow
import pyarrow.parquet
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to

from cloze.config import CorpusConfig
from cloze.data import corpus
from cloze.data.corpus import CorpusError, Document, ReadCorpus, counter_values, expand_corpus_paths


def read_corpus(paths, expected=None, **config):
    """Runs ReadCorpus over ``paths``, checks its output is ``expected``, returns the counters."""
    pipeline = beam.Pipeline()
    documents = pipeline | ReadCorpus(CorpusConfig(paths=tuple(map(str, paths)), **config))
    if expected is not None:
        assert_that(documents, equal_to(expected))
    result = pipeline.run()
    result.wait_until_finish()
    return counter_values(result)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_plain_text_documents_are_separated_by_blank_lines(tmp_path):
    (tmp_path / "a.txt").write_text("First line.\nSecond line.\n\n \t\n\nNext document.\n")

    counts = read_corpus([tmp_path], [Document("a.txt:1", "First line.\nSecond line."),
                                      Document("a.txt:6", "Next document.")])

    assert counts == {"documents_read": 2, "files_read": 1}


def test_windows_line_breaks_are_removed(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"One\r\ntwo\r\n\r\nThree\r\n")

    read_corpus([tmp_path], [Document("a.txt:1", "One\ntwo"), Document("a.txt:4", "Three")])


def test_documents_and_line_numbers_do_not_depend_on_the_read_block_size(tmp_path, monkeypatch):
    # Blocks end after an ASCII blank line: documents crossing the nominal block size stay
    # whole, a block with invalid UTF-8 is read line by line, a U+3000 line is blank too.
    (tmp_path / "a.txt").write_bytes("One\r\nlong document line.\r\n\u3000\nTwo\n\n".encode()
                                     + b"Bad \xff here.\n\n\nLast\r")
    expected = [Document("a.txt:1", "One\nlong document line."), Document("a.txt:4", "Two"),
                Document("a.txt:6", "Bad \ufffd here."), Document("a.txt:9", "Last")]

    for block_bytes in (1, 7, 1 << 20):
        monkeypatch.setattr(corpus, "_BLOCK_BYTES", block_bytes)
        read_corpus([tmp_path], expected, on_invalid_utf8="replace")


def test_a_megabyte_of_spaces_on_one_line_separates_documents(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"One.\n" + b" " * 1_000_000 + b"\nTwo.\n")

    read_corpus([tmp_path], [Document("a.txt:1", "One."), Document("a.txt:3", "Two.")])


def test_ids_are_relative_to_the_common_directory_of_all_files(tmp_path):
    (tmp_path / "books" / "x").mkdir(parents=True)
    (tmp_path / "books" / "a.txt").write_text("Alpha.\n")
    with gzip.open(tmp_path / "books" / "x" / "b.gz", "wt") as f:
        f.write("\nBeta.\n")

    read_corpus([tmp_path / "books" / "a.txt", tmp_path / "books" / "x"],
                [Document("a.txt:1", "Alpha."), Document("x/b.gz:2", "Beta.")])


def test_ids_do_not_change_when_the_corpus_moves(tmp_path):
    (tmp_path / "old" / "sub").mkdir(parents=True)
    (tmp_path / "old" / "sub" / "a.txt").write_text("Alpha.\n\nBeta.\n")
    shutil.copytree(tmp_path / "old", tmp_path / "elsewhere" / "new")
    expected = [Document("a.txt:1", "Alpha."), Document("a.txt:3", "Beta.")]

    read_corpus([tmp_path / "old"], expected)
    read_corpus([tmp_path / "elsewhere" / "new"], expected)


def test_json_lines_text_field_is_read_plain_and_gzipped(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "One.", "url": "u"}, {"text": "Two\n\nlines."}])
    with gzip.open(tmp_path / "b.json.gz", "wt") as f:
        f.write("\n" + json.dumps({"text": "Three."}) + "\n")

    read_corpus([tmp_path], [Document("a.jsonl:1", "One."), Document("a.jsonl:2", "Two\n\nlines."),
                             Document("b.json.gz:2", "Three.")])


def test_json_lines_text_field_is_configurable(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"body": "One."}])

    read_corpus([tmp_path], [Document("a.jsonl:1", "One.")], text_field="body")


def test_empty_files_are_counted_skipped_and_logged(tmp_path, caplog):
    (tmp_path / "a.txt").write_text("Text.\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.jsonl").write_text("  \n\n\t\n")
    (tmp_path / "empty.gz").write_bytes(b"")

    counts = read_corpus([tmp_path], [Document("a.txt:1", "Text.")])

    assert counts["files_skipped_empty"] == 3
    assert counts["files_read"] == 4
    assert str(tmp_path / "blank.jsonl") in caplog.text


def test_invalid_utf8_fails_naming_file_and_line(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"Fine.\n\nBroken \xff byte.\n")

    with pytest.raises(CorpusError) as error:
        read_corpus([tmp_path])

    assert "bad.txt:3: invalid UTF-8 at byte 8" in str(error.value)
    assert "on_invalid_utf8='skip' (or 'replace')" in str(error.value)


def test_invalid_utf8_in_skip_mode_drops_the_whole_document_and_counts_it(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"Fine.\n\nStart,\nbroken \xff,\nend.\n\nAfter.\n")
    write_jsonl(tmp_path / "bad.jsonl", [{"text": "Fine."}])
    with open(tmp_path / "bad.jsonl", "ab") as f:
        f.write(b'{"text": "\xc3("}\n')

    expected = [Document("bad.txt:1", "Fine."), Document("bad.txt:7", "After."),
                Document("bad.jsonl:1", "Fine.")]

    counts = read_corpus([tmp_path], expected, on_invalid_utf8="skip")

    assert counts["documents_skipped_invalid_utf8"] == 2
    assert counts["documents_read"] == 5


def test_empty_json_documents_are_counted_and_skipped(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": ""}, {"text": " \n "}, {"text": "Real."}])

    counts = read_corpus([tmp_path], [Document("a.jsonl:3", "Real.")])

    assert counts["documents_skipped_empty"] == 2
    assert counts["documents_read"] == 3


def test_missing_text_field_fails_naming_field_and_line(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "One."}, {"body": "Two."}])

    with pytest.raises(CorpusError, match=r"a\.jsonl:2: field 'text' is missing \(fields: 'body'"):
        read_corpus([tmp_path])


def test_non_string_text_field_fails_naming_field_and_value(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": ["a", "list"]}])

    with pytest.raises(CorpusError, match=r"a\.jsonl:1: field 'text' is list \[\"a\", \"list\"\]"):
        read_corpus([tmp_path])


def test_invalid_json_fails_naming_line(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "One."}\n{"text": oops}\n')

    with pytest.raises(CorpusError, match=r"a\.jsonl:2: invalid JSON"):
        read_corpus([tmp_path])


def test_paths_that_match_nothing_are_named(tmp_path):
    (tmp_path / "a.txt").write_text("Text.\n")

    with pytest.raises(CorpusError, match="nothing matched .*missing.txt.*nothing-\\*.gz"):
        read_corpus([tmp_path / "a.txt", tmp_path / "missing.txt", tmp_path / "nothing-*.gz"])


def test_directories_expand_recursively_without_hidden_files(tmp_path):
    for name in ("b.txt", "sub/a.txt", ".hidden.txt", ".git/config", "sub/.cache/x.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    assert expand_corpus_paths([str(tmp_path)]) == [str(tmp_path / "b.txt"),
                                                    str(tmp_path / "sub" / "a.txt")]


def test_globs_and_files_expand_to_sorted_unique_paths(tmp_path):
    for name in ("b.txt", "a.txt", "c.jsonl", "sub/d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    assert expand_corpus_paths([str(tmp_path / "*.txt"), str(tmp_path / "a.txt")]) == [
        str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]


def text_example(**features):
    return tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        for name, value in features.items()})).SerializeToString()


def test_one_document_per_line_flag(tmp_path):
    (tmp_path / "a.txt").write_text("First document.\nSecond document.\n\n  \nThird.\n")

    read_corpus([tmp_path], [Document("a.txt:1", "First document."),
                             Document("a.txt:2", "Second document."), Document("a.txt:5", "Third.")],
                one_document_per_line=True)


def test_bzip2_plain_text_and_json_lines(tmp_path):
    (tmp_path / "a.txt.bz2").write_bytes(bz2.compress(b"One.\n\nTwo.\n"))
    (tmp_path / "b.jsonl.bz2").write_bytes(bz2.compress(b'{"text": "Three."}\n'))

    read_corpus([tmp_path], [Document("a.txt.bz2:1", "One."), Document("a.txt.bz2:3", "Two."),
                             Document("b.jsonl.bz2:1", "Three.")])


def test_tfrecords_of_examples_with_a_text_feature_plain_and_gzipped(tmp_path):
    with tf.io.TFRecordWriter(str(tmp_path / "a.tfrecord")) as writer:
        writer.write(text_example(body="Première.".encode(), url=b"u"))
        writer.write(text_example(body=b"Second."))
    with tf.io.TFRecordWriter(str(tmp_path / "b.tfrecord.gz"), options="GZIP") as writer:
        writer.write(text_example(body=b"Third."))

    read_corpus([tmp_path], [Document("a.tfrecord:1", "Première."),
                             Document("a.tfrecord:2", "Second."),
                             Document("b.tfrecord.gz:1", "Third.")], text_field="body")


def test_tfrecord_without_the_text_feature_fails_naming_record_and_features(tmp_path):
    with tf.io.TFRecordWriter(str(tmp_path / "a.tfrecord")) as writer:
        writer.write(text_example(text=b"Fine."))
        writer.write(text_example(url=b"u"))

    with pytest.raises(CorpusError, match=r"a\.tfrecord:2: no single bytes feature 'text' "
                                          r"\(features: url\)"):
        read_corpus([tmp_path])


def test_parquet_column_is_read_and_nulls_count_as_empty(tmp_path):
    table = pyarrow.table({"id": [1, 2, 3], "content": ["Alpha.", None, "Gamma."]})
    pyarrow.parquet.write_table(table, tmp_path / "a.parquet")

    counts = read_corpus([tmp_path], [Document("a.parquet:1", "Alpha."),
                                      Document("a.parquet:3", "Gamma.")], text_field="content")

    assert counts["documents_skipped_empty"] == 1


def test_parquet_without_the_column_fails_naming_the_columns(tmp_path):
    pyarrow.parquet.write_table(pyarrow.table({"body": ["x"]}), tmp_path / "a.parquet")

    with pytest.raises(CorpusError, match=r"a\.parquet: column 'text' is missing \(columns: body"):
        read_corpus([tmp_path])


def test_csv_column_with_quoted_line_breaks_gzipped_too(tmp_path):
    with open(tmp_path / "a.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["id", "text"], ["1", "One\nspanning lines."], ["2", "Two."]])
    with gzip.open(tmp_path / "b.csv.gz", "wt", newline="") as f:
        csv.writer(f).writerows([["text"], ["Three."]])

    read_corpus([tmp_path], [Document("a.csv:2", "One\nspanning lines."),
                             Document("a.csv:4", "Two."), Document("b.csv.gz:2", "Three.")])


def test_csv_without_the_column_fails_naming_the_columns(tmp_path):
    (tmp_path / "a.csv").write_text("id,body\n1,x\n")

    with pytest.raises(CorpusError, match=r"a\.csv:1: column 'text' is missing \(columns: id, body"):
        read_corpus([tmp_path])


def test_normalisation_options(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "  \\uff23af\\u00e9  Cre\\u0300me\\u0000 \\n x "}\n')

    read_corpus([tmp_path], [Document("a.jsonl:1", "cafe creme\nx")], normalization="NFKC",
                lower_case=True, strip_accents=True, clean_whitespace=True)
    read_corpus([tmp_path], [Document("a.jsonl:1", "  Ｃafé  Crème\x00 \n x ")],
                normalization="NFC")


def test_exact_duplicates_are_removed_keeping_the_smallest_id(tmp_path):
    (tmp_path / "a.txt").write_text("Same.\n\nOther.\n\nSame.\n")
    (tmp_path / "b.txt").write_text("Same.\n")

    counts = read_corpus([tmp_path], [Document("a.txt:1", "Same."), Document("a.txt:3", "Other.")],
                         deduplicate=True)

    assert counts["documents_skipped_duplicate"] == 2
    assert counts["documents_read"] == 4


def test_documents_over_the_size_limit_are_skipped_and_counted(tmp_path):
    (tmp_path / "a.txt").write_text("Short.\n\n" + "x" * 101 + "\n")

    counts = read_corpus([tmp_path], [Document("a.txt:1", "Short.")], max_document_bytes=100)

    assert counts["documents_skipped_too_large"] == 1


def test_a_50_mb_single_line_is_skipped_as_too_large_without_failing(tmp_path):
    with open(tmp_path / "huge.txt", "wb") as f:
        f.write(b"word " * 10_000_000 + b"\n\nAfter.\n")

    counts = read_corpus([tmp_path], [Document("huge.txt:3", "After.")])

    assert counts["documents_skipped_too_large"] == 1


def test_nul_bytes_are_kept_as_text(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"Nul\x00in the middle.\n")

    read_corpus([tmp_path], [Document("a.txt:1", "Nul\x00in the middle.")])


@pytest.fixture
def binary_file(tmp_path):
    (tmp_path / "fine.txt").write_text("Fine.\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 400 + os.urandom(2048))
    return tmp_path


def test_a_binary_file_fails_by_default_naming_it(binary_file):
    with pytest.raises(CorpusError, match=r"blob\.bin:\d+: invalid UTF-8"):
        read_corpus([binary_file])


def test_a_binary_file_is_skipped_and_counted_in_skip_mode(binary_file):
    counts = read_corpus([binary_file], on_invalid_utf8="skip")

    assert counts["documents_skipped_invalid_utf8"] >= 1
    assert counts["documents_read"] == counts["documents_skipped_invalid_utf8"] + 1 + counts.get(
        "documents_skipped_empty", 0)


def test_invalid_utf8_is_replaced_in_replace_mode(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"caf\xe9 au lait\n")

    read_corpus([tmp_path], [Document("a.txt:1", "caf\ufffd au lait")], on_invalid_utf8="replace")


def test_documents_with_replaced_invalid_utf8_are_counted_once_each(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"Bad \xe9 one.\nBad \xff two.\n\nClean.\n")
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "Bad \xfe json."}\n{"text": "Clean."}\n')

    counts = read_corpus([tmp_path], on_invalid_utf8="replace")

    assert counts["documents_read"] == 4
    assert counts["documents_utf8_replaced"] == 2


def test_invalid_utf8_in_a_csv_row_is_judged_by_the_flag(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"text\nFine.\nBad \xff byte.\n")

    with pytest.raises(CorpusError, match=r"a\.csv:3: invalid UTF-8"):
        read_corpus([tmp_path])
    counts = read_corpus([tmp_path], [Document("a.csv:2", "Fine.")], on_invalid_utf8="skip")
    assert counts["documents_skipped_invalid_utf8"] == 1
