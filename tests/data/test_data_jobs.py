"""The data jobs end to end on a tiny corpus: ingest -> vocabulary -> masked-LM TFRecords."""
import dataclasses
import glob
import hashlib
import json
import os
import types

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf

from cloze.config import SPECIAL_TOKENS, CorpusConfig, DataConfig, VocabConfig
from cloze.data.corpus import CorpusError
from cloze.data.default_corpus import write_default_corpus
from cloze.data.features import feature_spec, parse_document_example
from cloze.data.jobs import (ingest_corpus, learn_vocabulary, make_masked_lm_examples,
                             make_masked_lm_examples_from_corpus)
from cloze.data.masking import num_tokens_to_mask
from cloze.data.mlm_examples import is_eval_document

CONFIG = DataConfig(max_seq_length=32, max_predictions_per_seq=5, eval_percent=20, num_shards=2,
                    packing_buckets=4)


def records(split_uri):
    files = sorted(glob.glob(os.path.join(split_uri, "*")))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def parsed_examples(split_uri):
    """All masked-LM examples of one split, as one numpy array per feature."""
    batch = tf.io.parse_example(records(split_uri), feature_spec(CONFIG.max_seq_length,
                                                                 CONFIG.max_predictions_per_seq))
    return {name: tensor.numpy() for name, tensor in batch.items()}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Runs the three jobs once on ~8 KB of stdlib prose plus a document with no tokens."""
    root = tmp_path_factory.mktemp("jobs")
    corpus = write_default_corpus(str(root / "corpus"), max_bytes=8_000)
    (root / "corpus" / "controls.txt").write_text("\x00\x01\x02\x00\n")
    ingested = ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(corpus,)), CONFIG.eval_percent,
                             str(root / "documents"))
    vocabulary = learn_vocabulary(beam.Pipeline(), str(root / "documents" / "Split-train" / "*"),
                                  VocabConfig(vocab_size=300), str(root / "vocab" / "vocab.txt"))
    counts = make_masked_lm_examples(beam.Pipeline(), str(root / "documents"),
                                     str(root / "vocab" / "vocab.txt"), VocabConfig(), CONFIG,
                                     str(root / "examples"))
    return types.SimpleNamespace(
        root=root, ingested=ingested, vocabulary=vocabulary, counts=counts,
        train=parsed_examples(root / "examples" / "Split-train"),
        eval=parsed_examples(root / "examples" / "Split-eval"))


def test_ingest_writes_every_document_once_split_by_id_hash(made):
    split_ids = {split: [parse_document_example(r).id
                         for r in records(made.root / "documents" / f"Split-{split}")]
                 for split in ("train", "eval")}

    assert len(split_ids["train"]) == made.ingested["documents_written_train"] > 0
    assert len(split_ids["eval"]) == made.ingested["documents_written_eval"] > 0
    assert len(set(split_ids["train"] + split_ids["eval"])) == made.ingested["documents_read"]
    assert "documents_skipped_empty" not in made.ingested
    assert all(is_eval_document(i, CONFIG.eval_percent) for i in split_ids["eval"])
    assert not any(is_eval_document(i, CONFIG.eval_percent) for i in split_ids["train"])


def test_ingest_writes_a_shard_per_file_each_file_in_one_shard_in_line_order(made):
    files = sorted(os.listdir(made.root / "corpus"))
    for split in ("train", "eval"):
        shards = sorted(glob.glob(str(made.root / "documents" / f"Split-{split}" / "*")))
        assert len(shards) == len(files) == 2
        shard_of = {}
        for shard in shards:
            ids = [parse_document_example(r.numpy()).id for r in tf.data.TFRecordDataset(
                shard, compression_type="GZIP")]
            for file in {doc_id.rpartition(":")[0] for doc_id in ids}:
                assert file not in shard_of  # a file's documents are in one shard
                shard_of[file] = shard
                lines = [int(i.rpartition(":")[2]) for i in ids if i.rpartition(":")[0] == file]
                assert lines == sorted(lines)
                positions = [k for k, i in enumerate(ids) if i.rpartition(":")[0] == file]
                assert positions == list(range(positions[0], positions[-1] + 1))  # together


def test_examples_are_written_as_tfx_split_shards_counted_per_split(made):
    for split in ("train", "eval"):
        names = sorted(os.listdir(made.root / "examples" / f"Split-{split}"))
        assert names == ["data_tfrecord-00000-of-00002.gz", "data_tfrecord-00001-of-00002.gz"]
        assert len(getattr(made, split)["input_ids"]) == made.counts[f"sequences_written_{split}"]


def test_a_document_without_tokens_is_counted_and_skipped(made):
    skipped = sum(made.counts.get(f"documents_skipped_no_tokens_{split}", 0)
                  for split in ("train", "eval"))
    tokenized = made.counts["documents_tokenized_train"] + made.counts["documents_tokenized_eval"]

    assert skipped == 1
    assert tokenized == made.ingested["documents_read"]


def test_input_mask_marks_exactly_the_real_tokens_from_cls_to_sep(made):
    examples = made.train
    lengths = examples["input_mask"].sum(axis=1)

    np.testing.assert_array_equal(examples["input_mask"], examples["input_ids"] != 0)
    assert np.all(examples["input_ids"][:, 0] == made.vocabulary.index("[CLS]"))
    assert np.all(examples["input_ids"][np.arange(len(lengths)), lengths - 1]
                  == made.vocabulary.index("[SEP]"))
    assert not examples["segment_ids"].any() and not examples["next_sentence_labels"].any()


def test_weights_are_one_exactly_for_the_slots_the_rule_fills(made):
    examples = made.train
    special = [made.vocabulary.index(token) for token in SPECIAL_TOKENS]
    original = examples["input_ids"].copy()
    for row, (positions, labels, weights) in enumerate(zip(
            examples["masked_lm_positions"], examples["masked_lm_ids"],
            examples["masked_lm_weights"])):
        original[row, positions[weights == 1]] = labels[weights == 1]
    candidates = (~np.isin(original, special)).sum(axis=1)
    used = np.array([num_tokens_to_mask(n, CONFIG.masked_lm_prob, CONFIG.max_predictions_per_seq)
                     for n in candidates])

    slots = np.arange(CONFIG.max_predictions_per_seq)
    np.testing.assert_array_equal(examples["masked_lm_weights"],
                                  (slots < used[:, None]).astype(np.float32))
    unused = examples["masked_lm_weights"] == 0
    assert not examples["masked_lm_positions"][unused].any()
    assert not examples["masked_lm_ids"][unused].any()


def test_predicted_positions_lie_on_real_tokens_between_cls_and_sep(made):
    examples = made.train
    lengths = examples["input_mask"].sum(axis=1)
    for positions, weights, length in zip(examples["masked_lm_positions"],
                                          examples["masked_lm_weights"], lengths):
        used = positions[weights == 1]
        assert np.all(np.diff(used) > 0)
        assert np.all((used >= 1) & (used <= length - 2))


def test_about_80_percent_of_predicted_tokens_are_masked_and_labels_are_never_special(made):
    examples = made.train
    used = examples["masked_lm_weights"] == 1
    rows = np.repeat(np.arange(len(used)), used.sum(axis=1))
    inputs = examples["input_ids"][rows, examples["masked_lm_positions"][used]]
    labels = examples["masked_lm_ids"][used]

    assert len(labels) > 300
    assert np.mean(inputs == made.vocabulary.index("[MASK]")) == pytest.approx(0.8, abs=0.07)
    assert np.mean(inputs == labels) == pytest.approx(0.1, abs=0.05)
    assert labels.min() >= 5  # the special tokens take ids 0 to 4


def test_examples_are_byte_identical_when_made_again(made, tmp_path):
    make_masked_lm_examples(beam.Pipeline(), str(made.root / "documents"),
                            str(made.root / "vocab" / "vocab.txt"), VocabConfig(), CONFIG,
                            str(tmp_path))

    for split in ("train", "eval"):
        for name in os.listdir(made.root / "examples" / f"Split-{split}"):
            assert ((tmp_path / f"Split-{split}" / name).read_bytes()
                    == (made.root / "examples" / f"Split-{split}" / name).read_bytes())


def test_the_one_job_from_text_writes_the_shards_and_counts_of_the_two_jobs(made, tmp_path):
    counts = make_masked_lm_examples_from_corpus(
        beam.Pipeline(), CorpusConfig(paths=(str(made.root / "corpus"),)),
        str(made.root / "vocab" / "vocab.txt"), VocabConfig(), CONFIG, str(tmp_path))

    for split in ("train", "eval"):
        names = os.listdir(made.root / "examples" / f"Split-{split}")
        assert sorted(os.listdir(tmp_path / f"Split-{split}")) == sorted(names)
        for name in names:
            assert ((tmp_path / f"Split-{split}" / name).read_bytes()
                    == (made.root / "examples" / f"Split-{split}" / name).read_bytes())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["examples"] == made.counts
    assert counts == {**made.ingested, **made.counts}


def test_an_empty_eval_split_is_written_and_read_as_empty(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Hello world.\n\nGoodbye world.\n")
    ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(str(tmp_path / "corpus"),)), 0,
                  str(tmp_path / "documents"))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\ngoodbye\n.\n")

    counts = make_masked_lm_examples(beam.Pipeline(), str(tmp_path / "documents"), str(vocab),
                                     VocabConfig(), CONFIG, str(tmp_path / "examples"))

    assert counts["sequences_written_train"] == 2
    assert "sequences_written_eval" not in counts
    assert records(tmp_path / "examples" / "Split-eval") == []


def test_ingesting_a_corpus_without_documents_fails_naming_its_paths(tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n")
    (tmp_path / "blank.jsonl").write_text('{"text": " "}\n')

    with pytest.raises(CorpusError,
                       match=rf"no documents in {tmp_path}: .*documents_skipped_empty=1"):
        ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(str(tmp_path),)), 10,
                      str(tmp_path / "out"))


def test_manifest_beside_the_examples_names_inputs_config_vocabulary_and_counts(made):
    manifest = json.loads((made.root / "examples" / "manifest.json").read_text())

    corpus_files = sorted(str(p) for p in (made.root / "corpus").iterdir())
    assert [entry["path"] for entry in manifest["inputs"]] == corpus_files
    for entry in manifest["inputs"]:
        data = open(entry["path"], "rb").read()
        assert entry == {"path": entry["path"], "bytes": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["data"] == dataclasses.asdict(CONFIG)
    assert manifest["seed"] == CONFIG.seed
    assert manifest["corpus"]["paths"] == [str(made.root / "corpus")]
    vocab_bytes = (made.root / "vocab" / "vocab.txt").read_bytes()
    assert manifest["vocabulary"] == {"sha256": hashlib.sha256(vocab_bytes).hexdigest(),
                                      "size": len(made.vocabulary)}
    assert manifest["counts"] == {"documents": made.ingested, "examples": made.counts}
    assert not list((made.root / "documents").glob(".*"))
