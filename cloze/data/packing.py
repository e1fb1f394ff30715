"""Packing a document's tokens into model sequences."""
from __future__ import annotations

import numpy as np


def pack_document(token_ids: np.ndarray, max_seq_length: int, cls_id: int, sep_id: int
                  ) -> list[np.ndarray]:
    """Splits a document's tokens into ``[CLS] chunk [SEP]`` sequences, ``max_seq_length`` at most.

    This is the first, narrow packing scheme: one document per sequence, a long
    document split into consecutive chunks of ``max_seq_length - 2`` tokens, the
    last one possibly shorter. No token is dropped and nothing is padded. (BERT
    itself packs sentence pairs for next-sentence prediction; Cloze trains the
    masked-LM objective only.)

    Example:
    >>> [s.tolist() for s in pack_document(np.arange(10, 17), max_seq_length=6, cls_id=2, sep_id=3)]
    [[2, 10, 11, 12, 13, 3], [2, 14, 15, 16, 3]]
    >>> pack_document(np.array([], dtype=np.int64), 6, 2, 3)
    []
    """
    token_ids = np.asarray(token_ids, dtype=np.int64)
    chunk_length = max_seq_length - 2
    return [np.concatenate([[cls_id], token_ids[start:start + chunk_length], [sep_id]])
            for start in range(0, len(token_ids), chunk_length)]
