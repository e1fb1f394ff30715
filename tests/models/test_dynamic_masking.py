"""In-graph dynamic masking follows the same rule as the Beam data stage."""
import numpy as np
import pytest
import tensorflow as tf

from cloze.data.masking import num_tokens_to_mask
from cloze.models import MaskedLMPreprocessor, WordPieceTokenizer
from cloze.models.layers.masked_lm_mask_generator import (MaskedLMMaskGenerator,
                                                          num_tokens_to_mask_tf)

SPECIAL = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("rate", [0.15, 0.4])
def test_graph_count_rule_equals_the_beam_rule(rate):
    counts = num_tokens_to_mask_tf(tf.range(600), rate, 20).numpy().tolist()
    assert counts == [num_tokens_to_mask(n, rate, 20) for n in range(600)]


def generate(token_ids, **overrides):
    args = dict(vocabulary_size=50, mask_selection_rate=0.15, mask_token_id=4,
                mask_selection_length=20, unselectable_token_ids=SPECIAL, seed=3)
    args.update(overrides)
    return {k: v.numpy() for k, v in MaskedLMMaskGenerator(**args)(token_ids).items()}


def random_sequences(rows=400, length=64, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 50, (rows, length)).astype("int32")
    lengths = rng.integers(4, length + 1, rows)
    for row, n in enumerate(lengths):
        ids[row, 0], ids[row, n - 1], ids[row, n:] = 2, 3, 0
    return ids, lengths


def test_generator_obeys_the_masking_rules():
    ids, lengths = random_sequences()
    out = generate(ids)
    mask = total = random = 0
    for row, n in enumerate(lengths):
        k = int(out["mask_weights"][row].sum())
        assert k == num_tokens_to_mask(n - 2, 0.15, 20)
        positions = out["mask_positions"][row][:k]
        assert list(positions) == sorted(set(positions))
        assert all(1 <= p <= n - 2 for p in positions)
        assert (out["mask_ids"][row][:k] == ids[row][positions]).all()
        assert not out["mask_positions"][row][k:].any() and not out["mask_ids"][row][k:].any()
        unchanged = np.setdiff1d(np.arange(64), positions)
        assert (out["token_ids"][row][unchanged] == ids[row][unchanged]).all()
        new = out["token_ids"][row][positions]
        mask += int((new == 4).sum())
        random += int(((new != 4) & (new != ids[row][positions])).sum())
        total += k
    assert 0.75 < mask / total < 0.85
    assert 0.06 < random / total < 0.12  # a random draw can equal the original


def test_generator_never_draws_special_tokens_as_replacements():
    ids, _ = random_sequences()
    out = generate(ids, mask_token_rate=0.0, random_token_rate=1.0)
    replaced = np.take_along_axis(out["token_ids"], out["mask_positions"], axis=1)
    assert not np.isin(replaced[out["mask_weights"] > 0], SPECIAL).any()


def test_generator_is_repeatable_with_a_seed():
    ids, _ = random_sequences(rows=8)
    first, second = generate(ids), generate(ids)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_generator_rejects_rates_that_do_not_add_up():
    with pytest.raises(ValueError, match="sum to at most 1"):
        MaskedLMMaskGenerator(50, 0.15, 4, 20, mask_token_rate=0.9, random_token_rate=0.2)


def test_preprocessor_masks_only_real_tokens(tiny_vocab):
    preprocessor = MaskedLMPreprocessor(WordPieceTokenizer(tiny_vocab), sequence_length=12,
                                        mask_selection_length=4)
    inputs, labels, weights = preprocessor(["the cat sat on the mat", "a dog ran"])
    assert inputs["token_ids"].shape == (2, 12) and labels.shape == (2, 4)
    assert weights.numpy().sum(axis=1).tolist() == [1.0, 1.0]
    special = set(preprocessor.tokenizer.special_token_ids())
    assert not set(labels.numpy()[weights.numpy() > 0].tolist()) & special


def test_masked_lm_fits_on_raw_strings(tiny_task):
    texts = ["the cat sat on the mat.", "a dog ran on the mat.", "the dogs sat.",
             "a cat ran."] * 8
    tiny_task.compile(optimizer="adam")
    history = tiny_task.fit(texts, batch_size=8, epochs=6, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    loss, accuracy = tiny_task.evaluate(texts, batch_size=8, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0


def test_auto_compile_warms_up_then_decays_over_the_first_fit(tiny_task):
    tiny_task.compile()
    texts = ["the cat sat on the mat.", "a dog ran."] * 20
    tiny_task.fit(texts, batch_size=8, epochs=2, verbose=0)
    schedule = tiny_task.optimizer._learning_rate
    assert (schedule.total_steps, schedule.warmup_steps) == (10, 1)
    assert float(schedule(1)) == pytest.approx(5e-5) and float(schedule(10)) == 0.0
