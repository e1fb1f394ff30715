"""BERT's masked-LM corruption of one token sequence, in plain numpy.

The rule, from google-research/bert: of the sequence's maskable tokens (all but
special tokens such as ``[CLS]`` and ``[SEP]``), choose ``num_tokens_to_mask``
uniformly at random without replacement. Each chosen token becomes ``[MASK]``
with probability ``mask_token_rate`` (0.8), a random vocabulary token with
probability ``random_token_rate`` (0.1), and otherwise stays as it is; the model
must predict the original token at every chosen position. Random replacement
tokens are drawn from the non-special tokens.

Whole-word masking (BERT's ``do_whole_word_mask``) and n-gram masking (ALBERT's
``max_ngram_size``) choose spans instead of single tokens: a word is a token
with the ``##`` pieces that follow it, an n-gram is ``n`` consecutive words (or
tokens), ``n`` drawn with weight ``1/n``. Spans are visited in random order and
added while the total stays within ``num_tokens_to_mask``, so the count is an
upper bound there and may be a little less when no remaining span fits.
"""
from __future__ import annotations

import hashlib
import json
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from cloze.config import DataConfig


class MaskedSequence(NamedTuple):
    """A masked sequence and what the model must predict.

    Attributes:
        input_ids: the token ids the model sees, with some replaced.
        positions: the chosen positions, sorted ascending, int64.
        labels: the original token ids at ``positions``.

    Example:
    >>> m = MaskedSequence(np.array([2, 4, 9, 3]), np.array([1]), np.array([8]))
    >>> int(m.input_ids[m.positions[0]]), int(m.labels[0])
    (4, 8)
    """

    input_ids: np.ndarray
    positions: np.ndarray
    labels: np.ndarray


def num_tokens_to_mask(num_candidates: int, rate: float, max_predictions: int) -> int:
    """How many of ``num_candidates`` maskable tokens to choose: the one shared rule.

    ``min(max_predictions, max(1, round(num_candidates * rate)))``, and 0 when
    there is no candidate. The product is a float64 and ``round`` is Python's,
    which rounds halves to even (``round(4.5) == 4``), as ``np.round`` and
    ``tf.round`` do, so a graph-side generator computing the product in float64
    gets the same count.

    Example:
    >>> [num_tokens_to_mask(n, 0.15, 20) for n in (0, 1, 10, 30, 126, 200)]
    [0, 1, 2, 4, 19, 20]
    """
    if num_candidates == 0:
        return 0
    return min(max_predictions, max(1, round(num_candidates * rate)))


def mask_sequence(token_ids: np.ndarray, rng: np.random.Generator, config: DataConfig,
                  mask_id: int, special_ids: Sequence[int], vocab_size: int,
                  is_continuation: Optional[np.ndarray] = None) -> MaskedSequence:
    """Applies BERT's masking rule to one sequence (``token_ids`` is not changed).

    Args:
        token_ids: the sequence, special tokens included.
        rng: the source of every random choice, e.g. from ``sequence_rng``.
        config: ``masked_lm_prob``, ``max_predictions_per_seq``,
            ``mask_token_rate`` and ``random_token_rate`` are used.
        mask_id: the id of ``[MASK]``.
        special_ids: ids that are never chosen and never drawn as random tokens.
        vocab_size: random tokens are drawn from ``[0, vocab_size)`` less ``special_ids``.
        is_continuation: per position, whether the token continues a word
            (a ``##`` piece); needed for ``config.whole_word_masking``.

    Example:
    >>> tokens = np.array([2, 10, 11, 12, 13, 3])
    >>> masked = mask_sequence(tokens, np.random.default_rng(0), DataConfig(masked_lm_prob=0.5),
    ...                        mask_id=4, special_ids=[0, 1, 2, 3, 4], vocab_size=20)
    >>> len(masked.positions), bool(np.all(masked.labels == tokens[masked.positions]))
    (2, True)
    """
    token_ids = np.asarray(token_ids, dtype=np.int64)
    candidates = np.flatnonzero(~np.isin(token_ids, special_ids))
    count = num_tokens_to_mask(len(candidates), config.masked_lm_prob,
                               config.max_predictions_per_seq)
    if config.whole_word_masking or config.max_ngram > 1:
        starts = _span_starts(candidates, is_continuation if config.whole_word_masking else None)
        positions = _choose_spans(np.split(candidates, starts), count, config.max_ngram, rng)
    else:
        positions = rng.choice(candidates, size=count, replace=False)
    positions = np.sort(positions).astype(np.int64)
    count = len(positions)
    # Draw every random number for every chosen position, used or not, so the
    # stream, and thus the whole sequence, depends only on the seed and count.
    action = rng.random(count)
    random_ids = _random_non_special_ids(rng, count, special_ids, vocab_size)
    input_ids = token_ids.copy()
    to_mask = action < config.mask_token_rate
    to_randomize = ~to_mask & (action < config.mask_token_rate + config.random_token_rate)
    input_ids[positions[to_mask]] = mask_id
    input_ids[positions[to_randomize]] = random_ids[to_randomize]
    return MaskedSequence(input_ids, positions, token_ids[positions])


def _span_starts(candidates: np.ndarray, is_continuation: Optional[np.ndarray]) -> np.ndarray:
    """Indices into ``candidates`` where a unit starts: each token, or each whole word.

    A word breaks where a token is not a continuation piece or where a
    non-candidate (a special token) lies between two candidates.
    """
    if is_continuation is None:
        return np.arange(1, len(candidates))
    gap = np.diff(candidates) > 1
    starts_word = ~np.asarray(is_continuation, dtype=bool)[candidates[1:]]
    return np.flatnonzero(gap | starts_word) + 1


def _choose_spans(units: Sequence[np.ndarray], count: int, max_ngram: int,
                  rng: np.random.Generator) -> np.ndarray:
    """ALBERT's n-gram choice over ``units`` (arrays of positions), at most ``count`` positions."""
    weights = 1.0 / np.arange(1, max_ngram + 1)
    covered = set()
    chosen: list[np.ndarray] = []
    total = 0
    for start in rng.permutation(len(units)):
        if total >= count:
            break
        longest = min(max_ngram, len(units) - start)
        n = 1 + int(rng.choice(longest, p=weights[:longest] / weights[:longest].sum()))
        # Shorten the n-gram until it fits in what is left of the count.
        while n > 0 and total + sum(len(u) for u in units[start:start + n]) > count:
            n -= 1
        span = np.concatenate(units[start:start + n]) if n else np.array([], np.int64)
        if n == 0 or covered.intersection(span.tolist()):
            continue
        covered.update(span.tolist())
        chosen.append(span)
        total += len(span)
    return np.concatenate(chosen) if chosen else np.array([], np.int64)


def _random_non_special_ids(rng: np.random.Generator, count: int, special_ids: Sequence[int],
                            vocab_size: int) -> np.ndarray:
    """Uniform draws from ``[0, vocab_size)`` less ``special_ids``, not listing the vocabulary."""
    specials = np.unique(np.asarray(special_ids, dtype=np.int64))
    specials = specials[(specials >= 0) & (specials < vocab_size)]
    ids = rng.integers(0, vocab_size - len(specials), size=count, dtype=np.int64)
    # The k-th non-special id: step over each special id at or below it, lowest first.
    for special in specials:
        ids += ids >= special
    return ids


def sequence_rng(seed: int, *keys: Union[str, int]) -> np.random.Generator:
    """A random generator determined by ``seed`` and ``keys`` alone (sha256, not ``hash()``).

    Keys such as a document id, a chunk index and a copy number give every
    sequence its own stream, so the output does not depend on how Beam batches
    or orders the work. Keys are ``str`` or ``int``; ``1`` and ``"1"`` differ.
    numpy only promises the same stream for the same numpy version.

    Example:
    >>> a = sequence_rng(12345, "wiki/a.txt:1", 0).integers(1000, size=3)
    >>> b = sequence_rng(12345, "wiki/a.txt:1", 0).integers(1000, size=3)
    >>> c = sequence_rng(12345, "wiki/a.txt:1", 1).integers(1000, size=3)
    >>> bool(np.all(a == b)), bool(np.all(a == c))
    (True, False)
    """
    material = json.dumps([seed, *keys], ensure_ascii=False).encode("utf-8")
    return np.random.default_rng(int.from_bytes(hashlib.sha256(material).digest(), "big"))
