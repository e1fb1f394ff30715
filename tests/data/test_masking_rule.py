"""BERT's masking rule: how many tokens, which ones, and what replaces them."""
import numpy as np
import pytest

from cloze.config import DataConfig
from cloze.data.masking import (MaskedSequence, mask_batch, mask_sequence, num_tokens_to_mask,
                                sequence_rng, sequence_seed)

CLS, SEP, MASK = 2, 3, 4
SPECIAL_IDS = [0, 1, CLS, SEP, MASK]
VOCAB_SIZE = 1000


@pytest.mark.parametrize("num_candidates, rate, max_predictions, expected", [
    (0, 0.15, 20, 0),     # nothing to mask
    (1, 0.15, 20, 1),     # at least one
    (3, 0.15, 20, 1),     # 0.45 rounds to 0, then at least one
    (10, 0.15, 20, 2),    # 1.5: half to even
    (30, 0.15, 20, 4),    # 4.5: half to even
    (50, 0.15, 20, 8),    # 7.5: half to even
    (126, 0.15, 20, 19),  # 18.9
    (200, 0.15, 20, 20),  # capped at max_predictions
    (5, 0.5, 3, 2),       # 2.5: half to even
])
def test_num_tokens_to_mask(num_candidates, rate, max_predictions, expected):
    assert num_tokens_to_mask(num_candidates, rate, max_predictions) == expected


def random_sequences(count, rng=np.random.default_rng(0)):
    """``count`` sequences [CLS] ... [SEP] with special tokens sprinkled inside."""
    for _ in range(count):
        body = rng.integers(len(SPECIAL_IDS), VOCAB_SIZE, size=rng.integers(0, 126))
        body[rng.random(len(body)) < 0.05] = MASK
        yield np.concatenate([[CLS], body, [SEP]]).astype(np.int64)


def mask_in_batches(sequences, keys, config, special_ids=SPECIAL_IDS, vocab_size=VOCAB_SIZE,
                    batch_size=64):
    """``mask_batch`` over ``sequences`` padded into batches, one ``MaskedSequence`` per row."""
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start:start + batch_size]
        lengths = np.array([len(tokens) for tokens in batch])
        padded = np.zeros((len(batch), config.max_seq_length), np.int64)
        for row, tokens in enumerate(batch):
            padded[row, :len(tokens)] = tokens
        seeds = np.array([sequence_seed(config.seed, *key)
                          for key in keys[start:start + batch_size]], np.uint64)
        masked = mask_batch(padded, lengths, seeds, config, MASK, special_ids, vocab_size)
        for row, length in enumerate(lengths):
            count = masked.counts[row]
            yield MaskedSequence(masked.input_ids[row, :length], masked.positions[row, :count],
                                 masked.labels[row, :count])


@pytest.fixture(params=["per_sequence", "batched"])
def masked_sequences(request):
    """``masked_sequences(count, config)``: (tokens, masked) pairs, by each implementation."""
    def make(count, config=DataConfig()):
        sequences = list(random_sequences(count, np.random.default_rng(0)))
        keys = [("doc", index) for index in range(count)]
        if request.param == "batched":
            return zip(sequences, mask_in_batches(sequences, keys, config))
        return ((tokens, mask_sequence(tokens, sequence_rng(config.seed, *key), config, MASK,
                                       SPECIAL_IDS, VOCAB_SIZE))
                for tokens, key in zip(sequences, keys))
    return make


def test_special_tokens_are_never_chosen(masked_sequences):
    for tokens, masked in masked_sequences(200):
        assert not np.isin(tokens[masked.positions], SPECIAL_IDS).any()


def test_the_number_chosen_follows_the_rule(masked_sequences):
    config = DataConfig()
    for tokens, masked in masked_sequences(200, config):
        candidates = np.sum(~np.isin(tokens, SPECIAL_IDS))
        assert len(masked.positions) == num_tokens_to_mask(
            candidates, config.masked_lm_prob, config.max_predictions_per_seq)


def test_positions_are_sorted_unique_int64_and_labels_are_the_originals(masked_sequences):
    for tokens, masked in masked_sequences(200):
        assert masked.positions.dtype == np.int64
        assert np.all(np.diff(masked.positions) > 0)
        np.testing.assert_array_equal(masked.labels, tokens[masked.positions])


def test_only_chosen_positions_change(masked_sequences):
    for tokens, masked in masked_sequences(200):
        unchosen = np.ones(len(tokens), bool)
        unchosen[masked.positions] = False
        np.testing.assert_array_equal(masked.input_ids[unchosen], tokens[unchosen])


def test_chosen_tokens_split_80_10_10_into_mask_random_and_kept(masked_sequences):
    chosen = replaced = kept = masked_count = 0
    for tokens, masked in masked_sequences(3000):
        new = masked.input_ids[masked.positions]
        masked_count += np.sum(new == MASK)
        kept += np.sum(new == masked.labels)  # includes the rare random draw of the same id
        replaced += np.sum((new != MASK) & (new != masked.labels))
        chosen += len(masked.positions)

    assert chosen > 20_000
    assert masked_count / chosen == pytest.approx(0.8, abs=0.015)
    assert replaced / chosen == pytest.approx(0.1, abs=0.01)
    assert kept / chosen == pytest.approx(0.1, abs=0.01)


def test_random_tokens_are_uniform_over_non_special_ids():
    special_ids = [0, 1, 2, 9, 19]
    config = DataConfig(masked_lm_prob=0.5, mask_token_rate=0.0, random_token_rate=1.0)
    tokens = np.full(40, 5)
    drawn = []
    for index in range(500):
        masked = mask_sequence(tokens, sequence_rng(0, index), config, MASK, special_ids, 20)
        drawn.append(masked.input_ids[masked.positions])

    counts = np.bincount(np.concatenate(drawn), minlength=20)
    assert counts[special_ids].sum() == 0
    assert np.delete(counts, special_ids).min() > 0.8 * np.delete(counts, special_ids).mean()


def test_batched_random_tokens_are_uniform_over_non_special_ids():
    special_ids = [0, 1, 2, 9, 19]
    config = DataConfig(masked_lm_prob=0.5, mask_token_rate=0.0, random_token_rate=1.0)
    sequences = [np.full(40, 5)] * 500
    masked = mask_in_batches(sequences, [(index,) for index in range(500)], config, special_ids,
                             vocab_size=20)

    counts = np.bincount(np.concatenate([m.input_ids[m.positions] for m in masked]),
                         minlength=20)
    assert counts[special_ids].sum() == 0
    assert np.delete(counts, special_ids).min() > 0.8 * np.delete(counts, special_ids).mean()


def test_a_batched_row_does_not_depend_on_the_rest_of_the_batch():
    config = DataConfig()
    sequences = list(random_sequences(50, np.random.default_rng(5)))
    keys = [("doc", index) for index in range(50)]

    together = list(mask_in_batches(sequences, keys, config, batch_size=50))
    alone = list(mask_in_batches(sequences[::-1], keys[::-1], config, batch_size=1))[::-1]

    for a, b in zip(together, alone):
        for field_a, field_b in zip(a, b):
            np.testing.assert_array_equal(field_a, field_b)


def test_a_sequence_of_only_special_tokens_is_left_alone():
    tokens = np.array([CLS, MASK, SEP])

    masked = mask_sequence(tokens, sequence_rng(0), DataConfig(), MASK, SPECIAL_IDS, VOCAB_SIZE)

    np.testing.assert_array_equal(masked.input_ids, tokens)
    assert len(masked.positions) == len(masked.labels) == 0


def test_sequence_rng_depends_on_seed_and_keys_only():
    def draw(*args):
        return sequence_rng(*args).integers(1 << 30, size=4).tolist()

    assert draw(1, "doc", 0) == draw(1, "doc", 0)
    assert len({str(draw(*args)) for args in [(1, "doc", 0), (2, "doc", 0), (1, "doc", 1),
                                              (1, "doc2", 0), (1, "doc", "0")]}) == 5
    # The same numbers in every process and on every machine (for numpy 1.26).
    assert draw(12345, "a.txt:1", 0) == [1048980694, 447741651, 61706266, 217113291]


def words_and_continuations(count, rng=np.random.default_rng(1)):
    """Sequences of words of 1-4 pieces; per position, whether the token continues a word."""
    for _ in range(count):
        lengths = rng.integers(1, 5, size=rng.integers(1, 30))
        continuation = np.concatenate([[False]] + [[False] + [True] * (n - 1) for n in lengths]
                                      + [[False]])
        body = rng.integers(len(SPECIAL_IDS), VOCAB_SIZE, size=int(lengths.sum()))
        yield np.concatenate([[CLS], body, [SEP]]).astype(np.int64), continuation


def word_of(continuation):
    """Per position, the index of the word it belongs to."""
    return np.cumsum(~continuation)


def test_whole_word_masking_chooses_every_piece_of_a_chosen_word():
    config = DataConfig(whole_word_masking=True, masked_lm_prob=0.3)
    for index, (tokens, continuation) in enumerate(words_and_continuations(300)):
        masked = mask_sequence(tokens, sequence_rng(0, index), config, MASK, SPECIAL_IDS,
                               VOCAB_SIZE, continuation)
        words = word_of(continuation)
        chosen_words = set(words[masked.positions].tolist())
        assert set(masked.positions.tolist()) == set(
            np.flatnonzero(np.isin(words, list(chosen_words))).tolist())


def test_whole_word_masking_never_chooses_more_than_the_rule_and_rarely_fewer():
    config = DataConfig(whole_word_masking=True)
    shortfall = []
    for index, (tokens, continuation) in enumerate(words_and_continuations(300)):
        masked = mask_sequence(tokens, sequence_rng(0, index), config, MASK, SPECIAL_IDS,
                               VOCAB_SIZE, continuation)
        rule = num_tokens_to_mask(len(tokens) - 2, config.masked_lm_prob,
                                  config.max_predictions_per_seq)
        assert len(masked.positions) <= rule
        shortfall.append(rule - len(masked.positions))
    assert np.mean(shortfall) < 0.5


def test_ngram_masking_chooses_runs_of_neighbouring_words_short_ones_likelier():
    config = DataConfig(max_ngram=3, masked_lm_prob=0.2)
    run_lengths = []
    for index, tokens in enumerate(random_sequences(400, np.random.default_rng(3))):
        masked = mask_sequence(tokens, sequence_rng(0, index), config, MASK, SPECIAL_IDS,
                               VOCAB_SIZE)
        assert len(masked.positions) <= num_tokens_to_mask(
            int(np.sum(~np.isin(tokens, SPECIAL_IDS))), 0.2, config.max_predictions_per_seq)
        if len(masked.positions):
            runs = np.split(masked.positions, np.flatnonzero(np.diff(masked.positions) > 1) + 1)
            run_lengths += [len(r) for r in runs]
    counts = np.bincount(run_lengths)
    # Runs merge when spans touch, so only the trend is checked: longer spans exist, and
    # single tokens are the most common.
    assert counts[1] > counts[2] > 0 and counts[3] > 0
