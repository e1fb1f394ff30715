"""ReadCorpus and expand_corpus_paths on tiny corpora, through real DirectRunner pipelines."""
import gzip
import json
import shutil

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from cloze.config import CorpusConfig
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
    assert "on_invalid_utf8='skip'" in str(error.value)


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
