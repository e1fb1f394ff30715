"""is_eval_document: the stable, hash-based train/eval split of documents."""
import pytest

from cloze.data.mlm_examples import is_eval_document


def test_eval_split_is_stable_across_processes():
    # Fixed values: sha256 has no per-process salt, unlike hash().
    assert [is_eval_document(f"a.txt:{line}", 50) for line in range(1, 9)] == [
        True, False, True, True, True, True, True, True]


def test_eval_split_takes_about_eval_percent_of_documents():
    ids = [f"corpus/part-{n}.jsonl:{n * 7}" for n in range(4000)]

    assert sum(is_eval_document(i, 10) for i in ids) / len(ids) == pytest.approx(0.10, abs=0.015)
    assert not any(is_eval_document(i, 0) for i in ids)


def test_a_larger_eval_percent_only_adds_documents():
    ids = [f"d:{n}" for n in range(1000)]

    assert all(is_eval_document(i, 20) for i in ids if is_eval_document(i, 5))
