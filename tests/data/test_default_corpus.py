"""The built-in corpus drawn from the standard library's docstrings and comments."""
from cloze.data.default_corpus import CORPUS_FILE_NAME, MIN_DOCUMENT_CHARS, write_default_corpus


def test_default_corpus_is_deterministic_and_fills_its_budget(tmp_path):
    first = write_default_corpus(str(tmp_path / "first"), max_bytes=300_000)
    second = write_default_corpus(str(tmp_path / "second"), max_bytes=300_000)

    data = (tmp_path / "first" / CORPUS_FILE_NAME).read_bytes()
    assert first == str(tmp_path / "first")
    assert data == (tmp_path / "second" / CORPUS_FILE_NAME).read_bytes()
    assert 100_000 < len(data) <= 300_000


def test_default_corpus_documents_are_long_paragraphs_without_blank_lines(tmp_path):
    write_default_corpus(str(tmp_path), max_bytes=50_000)

    documents = (tmp_path / CORPUS_FILE_NAME).read_text().split("\n\n")

    assert documents.pop() == ""
    assert len(documents) > 50
    assert all(len(d) >= MIN_DOCUMENT_CHARS for d in documents)
    assert all(line.strip() for d in documents for line in d.split("\n"))
