"""pack_document: one document per sequence, long documents split, nothing dropped."""
import numpy as np

from cloze.data.packing import pack_document

CLS, SEP = 2, 3


def test_every_token_is_kept_in_order_within_the_length():
    for length in range(0, 25):
        tokens = np.arange(100, 100 + length)

        sequences = pack_document(tokens, max_seq_length=8, cls_id=CLS, sep_id=SEP)

        assert all(len(s) <= 8 and s[0] == CLS and s[-1] == SEP for s in sequences)
        assert all(len(s) == 8 for s in sequences[:-1])
        kept = np.concatenate([s[1:-1] for s in sequences]) if sequences else np.array([])
        np.testing.assert_array_equal(kept, tokens)


def test_an_empty_document_gives_no_sequence():
    assert pack_document(np.array([], dtype=np.int64), 8, CLS, SEP) == []
