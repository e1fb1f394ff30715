"""Packing, pair, copy, masking and naming options through the make_masked_lm_examples job."""
import glob
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf

from cloze.config import CorpusConfig, DataConfig, VocabConfig
from cloze.data.default_corpus import write_default_corpus
from cloze.data.features import feature_spec
from cloze.data.jobs import ingest_corpus, learn_vocabulary, make_masked_lm_examples
from tests.conftest import original_ids

BASE = dict(max_seq_length=48, max_predictions_per_seq=8, eval_percent=20, packing_buckets=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Document records of ~6 KB of stdlib prose and a vocabulary learned from them."""
    root = tmp_path_factory.mktemp("options")
    corpus_dir = write_default_corpus(str(root / "corpus"), max_bytes=6_000)
    (root / "corpus" / "one_token.txt").write_text("x\n")
    ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(corpus_dir,)), BASE["eval_percent"],
                  str(root / "documents"))
    vocabulary = learn_vocabulary(beam.Pipeline(), str(root / "documents" / "Split-train" / "*"),
                                  VocabConfig(vocab_size=400), str(root / "vocab.txt"))
    return root, vocabulary


@pytest.fixture(scope="module")
def made(corpus, tmp_path_factory):
    """``made(**options)``: the counters and parsed train split of the job with ``options``.

    Runs are cached by options, so tests that look at the same output share one run.
    """
    root, _ = corpus
    runs = {}

    def make(**options):
        key = tuple(sorted(options.items()))
        if key not in runs:
            config = DataConfig(**{**BASE, **options})
            output = tmp_path_factory.mktemp("examples")
            counts = make_masked_lm_examples(beam.Pipeline(), str(root / "documents"),
                                             str(root / "vocab.txt"), VocabConfig(), config,
                                             str(output))
            files = sorted(glob.glob(os.path.join(output, "Split-train", "*")))
            records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
            spec = feature_spec(config.max_seq_length, config.max_predictions_per_seq,
                                config.feature_names, masked=config.masking == "static")
            parsed = tf.io.parse_example(records, spec)
            runs[key] = counts, {name: value.numpy() for name, value in parsed.items()}, records
        return runs[key]

    return make


def assert_every_document_is_packed_or_skipped(counts):
    for split in ("train", "eval"):
        assert counts[f"documents_tokenized_{split}"] == sum(
            counts.get(f"documents_{outcome}_{split}", 0)
            for outcome in ("packed", "skipped_no_tokens", "skipped_no_pair"))


@pytest.mark.parametrize("packing", ["sentences", "full_sentences", "doc_pairs"])
def test_every_document_is_packed_or_counted_as_skipped(made, packing):
    counts, examples, _ = made(packing=packing)

    assert_every_document_is_packed_or_skipped(counts)
    assert len(examples["input_ids"]) == counts["sequences_written_train"]


def test_full_sentences_fills_sequences_better_than_one_document_each(made):
    _, alone, _ = made(packing="sentences")
    _, packed, _ = made(packing="full_sentences")

    assert len(packed["input_ids"]) < len(alone["input_ids"])
    assert packed["input_mask"].mean() > alone["input_mask"].mean()


def test_doc_pairs_write_two_segments_and_next_sentence_labels(corpus, made):
    root, vocabulary = corpus
    sep = vocabulary.index("[SEP]")
    _, examples, _ = made(packing="doc_pairs")

    labels = examples["next_sentence_labels"][:, 0]
    for ids, segments in zip(examples["input_ids"], examples["segment_ids"]):
        real = ids[ids != 0]
        assert (real == sep).sum() >= 2 and segments[len(real) - 1] == 1
        assert segments[0] == 0 and np.all(np.diff(segments[:len(real)]) >= 0)
    # A one-sentence document always draws B from another one, so 1 is the commoner label.
    assert set(labels.tolist()) == {0, 1}


def test_dupe_factor_writes_copies_with_different_masks(made):
    once, single, _ = made(packing="sentences")
    twice, double, _ = made(packing="sentences", dupe_factor=2)

    assert twice["sequences_written_train"] == 2 * once["sequences_written_train"]
    assert twice["documents_packed_train"] == once["documents_packed_train"]

    def originals(examples):
        return sorted(map(tuple, original_ids(examples).tolist()))

    assert originals(double) == sorted(originals(single) * 2)
    assert len(set(map(tuple, double["masked_lm_positions"].tolist()))) > len(single["input_ids"])


def test_masking_none_writes_unmasked_sequences_without_masked_lm_features(corpus, made):
    root, vocabulary = corpus
    counts, examples, records = made(masking="none")

    assert set(examples) == {"input_ids", "input_mask", "segment_ids", "next_sentence_labels"}
    assert not np.isin(examples["input_ids"], vocabulary.index("[MASK]")).any()
    assert "masked_tokens_train" not in counts
    assert "masked_lm_ids" not in tf.train.Example.FromString(records[0]).features.feature


def test_model_garden_feature_names(made):
    _, examples, _ = made(feature_names="model_garden")

    assert {"input_word_ids", "input_type_ids", "input_mask", "masked_lm_ids"} <= set(examples)
    assert "input_ids" not in examples and "segment_ids" not in examples


def test_whole_word_masking_masks_every_piece_of_a_chosen_word(corpus, made):
    _, vocabulary = corpus
    continuation = np.array([token.startswith("##") for token in vocabulary])
    _, examples, _ = made(whole_word_masking=True)

    checked = 0
    for ids, positions, labels, weights in zip(
            examples["input_ids"], examples["masked_lm_positions"], examples["masked_lm_ids"],
            examples["masked_lm_weights"]):
        original = ids.copy()
        original[positions[weights == 1]] = labels[weights == 1]
        chosen = set(positions[weights == 1].tolist())
        for position in chosen:
            if position + 1 < len(ids) and continuation[original[position + 1]]:
                assert position + 1 in chosen
                checked += 1
            if continuation[original[position]]:
                assert position - 1 in chosen
    assert checked > 10
