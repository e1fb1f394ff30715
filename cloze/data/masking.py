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
with the pieces that continue it (``##`` pieces for WordPiece; see
``tokenizers.word_continuations``), an n-gram is ``n`` consecutive words (or
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
            (a ``##`` piece, a piece without SentencePiece's ``▁`` or BPE's
            ``Ġ``: ``tokenizers.word_continuations``); needed for
            ``config.whole_word_masking``.

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
    random_ids = _non_special_ids(rng.random(count), special_ids, vocab_size)
    input_ids = token_ids.copy()
    to_mask = action < config.mask_token_rate
    to_randomize = ~to_mask & (action < config.mask_token_rate + config.random_token_rate)
    input_ids[positions[to_mask]] = mask_id
    input_ids[positions[to_randomize]] = random_ids[to_randomize]
    return MaskedSequence(input_ids, positions, token_ids[positions])


class MaskedBatch(NamedTuple):
    """Masked sequences of one batch, as padded arrays (see ``mask_batch``).

    Attributes:
        input_ids: ``(batch, length)``, the token ids the model sees, padded
            as the ``token_ids`` given to ``mask_batch`` were (with the pad id).
        positions: ``(batch, max_predictions_per_seq)``, chosen positions
            sorted ascending, then 0-padded.
        labels: the original token ids at ``positions``, then 0-padded.
        counts: ``(batch,)``, how many of the ``positions`` slots are used.

    Example:
    >>> b = MaskedBatch(np.array([[2, 4, 3]]), np.array([[1, 0]]), np.array([[8, 0]]),
    ...                 np.array([1]))
    >>> b.labels[0, :b.counts[0]].tolist()
    [8]
    """

    input_ids: np.ndarray
    positions: np.ndarray
    labels: np.ndarray
    counts: np.ndarray


def mask_batch(token_ids: np.ndarray, lengths: np.ndarray, seeds: np.ndarray,
               config: DataConfig, mask_id: int, special_ids: Sequence[int], vocab_size: int
               ) -> MaskedBatch:
    """Applies BERT's token-level masking rule to a batch of sequences at once.

    The same rule as ``mask_sequence`` (count, uniform choice without
    replacement among non-special tokens, 80/10/10), with every random number
    drawn by a counter-based generator from the row's seed and the position:
    a row's result depends on its tokens and its seed only, not on the rest
    of the batch, so Beam's batching does not change the output.

    Args:
        token_ids: ``(batch, length)`` int64 sequences, special tokens included,
            each padded after its ``lengths`` tokens (with any id: padding
            is never chosen and stays as it is).
        lengths: ``(batch,)`` the real length of each row.
        seeds: ``(batch,)`` uint64 seeds, e.g. from ``sequence_seed``.
        config: ``masked_lm_prob``, ``max_predictions_per_seq``,
            ``mask_token_rate`` and ``random_token_rate`` are used.
        mask_id: the mask token's id (``[MASK]``, ``<mask>``).
        special_ids: ids that are never chosen and never drawn as random tokens.
        vocab_size: random tokens are drawn from ``[0, vocab_size)`` less ``special_ids``.

    Example:
    >>> tokens = np.array([[2, 10, 11, 12, 13, 3], [2, 14, 3, 0, 0, 0]])
    >>> masked = mask_batch(tokens, np.array([6, 3]), np.array([7, 8], np.uint64),
    ...                     DataConfig(masked_lm_prob=0.5, max_predictions_per_seq=3),
    ...                     mask_id=4, special_ids=[0, 1, 2, 3, 4], vocab_size=20)
    >>> masked.counts.tolist(), bool(np.all(masked.input_ids[1, 3:] == 0))
    ([2, 1], True)
    """
    token_ids = np.asarray(token_ids, dtype=np.int64)
    rows, width = token_ids.shape
    slots = config.max_predictions_per_seq
    candidates = ~np.isin(token_ids, special_ids) & (np.arange(width) < lengths[:, None])
    num_candidates = candidates.sum(axis=1)
    # np.round, like Python's round in num_tokens_to_mask, rounds halves to even.
    counts = np.minimum(slots, np.maximum(1, np.round(num_candidates * config.masked_lm_prob)))
    counts = np.where(num_candidates == 0, 0, counts).astype(np.int64)
    # The candidates with the smallest random keys are a uniform choice without replacement.
    keys = np.where(candidates, _uniforms(seeds, 0, width), 2.0)
    order = np.argsort(keys, axis=1, kind="stable")[:, :slots]
    used = np.arange(order.shape[1]) < counts[:, None]
    positions = np.sort(np.where(used, order, width), axis=1)
    positions = np.where(used, positions, 0)
    chosen = np.zeros_like(candidates)
    chosen[np.nonzero(used)[0], positions[used]] = True
    action = _uniforms(seeds, 1, width)
    to_mask = chosen & (action < config.mask_token_rate)
    to_randomize = chosen & ~to_mask & (
        action < config.mask_token_rate + config.random_token_rate)
    random_ids = _non_special_ids(_uniforms(seeds, 2, width), special_ids, vocab_size)
    input_ids = np.where(to_mask, mask_id, np.where(to_randomize, random_ids, token_ids))
    labels = np.where(used, np.take_along_axis(token_ids, positions, axis=1), 0)
    padded = np.zeros((rows, slots), np.int64)
    padded_labels = np.zeros((rows, slots), np.int64)
    padded[:, :positions.shape[1]] = positions
    padded_labels[:, :labels.shape[1]] = labels
    return MaskedBatch(input_ids, padded, padded_labels, counts)


def sequence_seed(seed: int, *keys: Union[str, int]) -> int:
    """A 64-bit seed determined by ``seed`` and ``keys`` alone (sha256, not ``hash()``).

    What ``mask_batch`` takes per row; keys as in ``sequence_rng``.

    Example:
    >>> sequence_seed(12345, "wiki/a.txt:1", 0) == sequence_seed(12345, "wiki/a.txt:1", 0)
    True
    >>> sequence_seed(12345, "wiki/a.txt:1", 0) == sequence_seed(12345, "wiki/a.txt:1", 1)
    False
    """
    return int.from_bytes(_key_digest(seed, keys)[:8], "big")


_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _uniforms(seeds: np.ndarray, stream: int, width: int) -> np.ndarray:
    """``(len(seeds), width)`` uniform floats in [0, 1): SplitMix64 of (seed, stream, column)."""
    counters = (np.uint64(stream) << np.uint64(32)) + np.arange(1, width + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = np.asarray(seeds, dtype=np.uint64)[:, None] + counters * _GOLDEN_GAMMA
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _non_special_ids(uniforms: np.ndarray, special_ids: Sequence[int], vocab_size: int
                     ) -> np.ndarray:
    """Maps uniform floats to ids uniform over ``[0, vocab_size)`` less ``special_ids``."""
    specials = np.unique(np.asarray(special_ids, dtype=np.int64))
    specials = specials[(specials >= 0) & (specials < vocab_size)]
    ids = (uniforms * (vocab_size - len(specials))).astype(np.int64)
    # The k-th non-special id: step over each special id at or below it, lowest first.
    for special in specials:
        ids += ids >= special
    return ids


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
    return np.random.default_rng(int.from_bytes(_key_digest(seed, keys), "big"))


# json.dumps(..., ensure_ascii=False) makes a new encoder per call; this is the same encoder, kept.
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _key_digest(seed: int, keys: Sequence[Union[str, int]]) -> bytes:
    material = _KEY_ENCODER.encode([seed, *keys]).encode("utf-8")
    return hashlib.sha256(material).digest()
