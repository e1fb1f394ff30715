"""The data jobs with SentencePiece and byte-level BPE: learn -> tokenize, pack, mask -> shards."""
import glob
import hashlib
import json
import os
import types

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_transform.tf_metadata import schema_utils

from cloze.config import CorpusConfig, DataConfig, VocabConfig
from cloze.data.default_corpus import write_default_corpus
from cloze.data.features import masked_lm_schema
from cloze.data.jobs import ingest_corpus, learn_vocabulary, make_masked_lm_examples
from cloze.data.mlm_examples import whitespace_first
from cloze.data.sentences import split_sentences
from cloze.data.tokenizers import (TOKENIZER_FILES, load_tokenizer, tokenizer_files,
                                   word_continuations)
from tests.conftest import original_ids

KINDS = ("sentencepiece", "byte_bpe")
# full_sentences with token masking goes through the batched mask_batch path; doc_pairs
# with whole words through the per-sequence mask_sequence path.
CONFIGS = {
    "tokens": DataConfig(max_seq_length=32, max_predictions_per_seq=5, eval_percent=20,
                         packing_buckets=2),
    "words": DataConfig(max_seq_length=32, max_predictions_per_seq=5, eval_percent=20,
                        packing="doc_pairs", packing_buckets=2, whole_word_masking=True),
}


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    root = tmp_path_factory.mktemp("documents")
    corpus = write_default_corpus(str(root / "corpus"), max_bytes=6_000)
    ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(corpus,)), 20, str(root / "documents"))
    return root / "documents"


def learn(documents, kind, out_dir):
    config = VocabConfig(vocab_size=300, tokenizer=kind)
    path = os.path.join(out_dir, TOKENIZER_FILES[kind][0])
    learn_vocabulary(beam.Pipeline(), str(documents / "Split-train" / "*"), config, path)
    return config, path


def tokenizer_bytes(kind, path):
    """The bytes of each tokenizer file at ``path``, in ``TOKENIZER_FILES`` order."""
    contents = []
    for file in tokenizer_files(kind, path):
        with open(file, "rb") as f:
            contents.append(f.read())
    return contents


def examples_of(root, config, vocabulary_size):
    """Every example of both splits, parsed with the feature spec of the TFMD schema."""
    schema = masked_lm_schema(config.max_seq_length, config.max_predictions_per_seq,
                              vocabulary_size=vocabulary_size)
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    files = sorted(glob.glob(os.path.join(root, "Split-*", "*")))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    parsed = tf.io.parse_example(records, spec)
    return schema, {name: value.numpy() for name, value in parsed.items()}


@pytest.fixture(scope="module")
def learned(documents, tmp_path_factory):
    """``learned(kind)``: ``(VocabConfig, path)`` of that tokenizer, learned once."""
    root = tmp_path_factory.mktemp("vocab")
    made = {kind: learn(documents, kind, str(root / kind)) for kind in KINDS}
    return made.__getitem__


@pytest.fixture(scope="module")
def make(documents, learned, tmp_path_factory):
    """``make(kind, config name)``: the shards of that tokenizer and config, made once."""
    made = {}

    def make_once(kind, name):
        if (kind, name) not in made:
            root = tmp_path_factory.mktemp(f"{kind}_{name}")
            vocab, path = learned(kind)
            config = CONFIGS[name]
            counts = make_masked_lm_examples(beam.Pipeline(), str(documents), path, vocab,
                                             config, str(root / "examples"))
            tokenizer = load_tokenizer(vocab, path)
            schema, examples = examples_of(root / "examples", config, len(tokenizer.vocabulary))
            made[kind, name] = types.SimpleNamespace(
                kind=kind, root=root, path=path, config=config, counts=counts, schema=schema,
                tokenizer=tokenizer, examples=examples)
        return made[kind, name]

    return make_once


@pytest.fixture(params=[(kind, name) for kind in KINDS for name in CONFIGS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def made(request, make):
    return make(*request.param)


@pytest.fixture(params=KINDS)
def made_pairs(request, make):
    """doc_pairs with whole-word masking."""
    return make(request.param, "words")


@pytest.mark.parametrize("kind", KINDS)
def test_learning_writes_the_tokenizer_files_at_the_path_the_same_bytes_twice(
        kind, documents, learned, tmp_path):
    _, first = learned(kind)
    _, second = learn(documents, kind, str(tmp_path))

    assert sorted(os.listdir(tmp_path)) == sorted(TOKENIZER_FILES[kind])
    assert tokenizer_bytes(kind, second) == tokenizer_bytes(kind, first)


def test_shards_hold_every_feature_the_schema_names_within_its_domains(made):
    assert made.counts["sequences_written_train"] > 20
    for feature in made.schema.feature:
        values = made.examples[feature.name]
        domain = feature.int_domain if feature.HasField("int_domain") else feature.float_domain
        assert values.min() >= domain.min
        if domain.HasField("max"):
            assert values.max() <= domain.max


def test_sequences_run_from_cls_to_sep_and_are_padded_with_the_tokenizers_pad_id(made):
    tokenizer, examples = made.tokenizer, made.examples
    lengths = examples["input_mask"].sum(axis=1)
    real = np.arange(made.config.max_seq_length) < lengths[:, None]

    np.testing.assert_array_equal(examples["input_mask"], real)
    assert np.all(examples["input_ids"][~real] == tokenizer.pad_token_id)
    assert not np.any(examples["input_ids"][real] == tokenizer.pad_token_id)
    assert np.all(examples["input_ids"][:, 0] == tokenizer.cls_token_id)
    assert np.all(examples["input_ids"][np.arange(len(lengths)), lengths - 1]
                  == tokenizer.sep_token_id)


def test_no_special_token_is_chosen_and_chosen_tokens_mostly_become_the_mask_id(made):
    tokenizer, examples = made.tokenizer, made.examples
    used = examples["masked_lm_weights"] == 1
    rows = np.repeat(np.arange(len(used)), used.sum(axis=1))
    inputs = examples["input_ids"][rows, examples["masked_lm_positions"][used]]
    labels = examples["masked_lm_ids"][used]

    chosen = np.zeros(examples["input_ids"].shape, bool)
    chosen[rows, examples["masked_lm_positions"][used]] = True

    assert not np.isin(labels, tokenizer.special_token_ids()).any()
    assert np.mean(inputs == tokenizer.mask_token_id) > 0.6
    assert not np.any(examples["input_ids"][~chosen] == tokenizer.mask_token_id)


def test_pairs_follow_the_tokenizers_layout(made_pairs):
    made = made_pairs
    tokenizer, examples = made.tokenizer, made.examples
    original = original_ids(examples)
    separators = (original == tokenizer.sep_token_id).sum(axis=1)
    if made.kind == "byte_bpe":  # RoBERTa: <s> A </s></s> B </s>, one segment
        assert np.all(separators == 3)
        assert not examples["segment_ids"].any()
        first_sep = np.argmax(original == tokenizer.sep_token_id, axis=1)
        assert np.all(original[np.arange(len(original)), first_sep + 1] == tokenizer.sep_token_id)
    else:  # ALBERT: [CLS] A [SEP] B [SEP], B in segment 1
        assert np.all(separators == 2)
        assert np.all(examples["segment_ids"].max(axis=1) == 1)


def test_whole_word_masking_chooses_every_piece_of_a_word(made_pairs):
    made = made_pairs
    continues = word_continuations(made.kind, made.tokenizer.vocabulary)
    special = np.isin(np.arange(len(continues)), made.tokenizer.special_token_ids())
    original = original_ids(made.examples)
    for row, (positions, weights) in enumerate(zip(made.examples["masked_lm_positions"],
                                                   made.examples["masked_lm_weights"])):
        chosen = set(positions[weights == 1].tolist())
        for position in chosen:
            after = position + 1
            if after < len(original[row]) and continues[original[row, after]]:
                assert after in chosen, (row, position)
            # A segment cut by truncation may start inside a word, after a special token.
            if continues[original[row, position]] and not special[original[row, position - 1]]:
                assert position - 1 in chosen, (row, position)


def test_the_manifest_names_the_tokenizer_and_hashes_its_files(made):
    manifest = json.loads((made.root / "examples" / "manifest.json").read_text())
    digest = hashlib.sha256(b"".join(tokenizer_bytes(made.kind, made.path)))

    assert manifest["tokenizer"] == made.kind
    assert manifest["vocabulary"] == {"sha256": digest.hexdigest(),
                                      "size": len(made.tokenizer.vocabulary)}


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_inputs_give_the_same_shard_bytes(kind, make, documents, tmp_path):
    made = make(kind, "tokens")
    make_masked_lm_examples(beam.Pipeline(), str(documents), made.path,
                            VocabConfig(tokenizer=made.kind), made.config, str(tmp_path))
    for split in ("train", "eval"):
        for name in os.listdir(made.root / "examples" / f"Split-{split}"):
            assert ((tmp_path / f"Split-{split}" / name).read_bytes()
                    == (made.root / "examples" / f"Split-{split}" / name).read_bytes())


def test_byte_bpe_sentences_tokenize_as_their_whole_text(learned):
    vocab, path = learned("byte_bpe")
    tokenizer = load_tokenizer(vocab, path)
    text = "It works.  See e.g. the docs!\n\nA new paragraph?  Yes. "
    sentences = whitespace_first(split_sentences(text))

    by_sentence = tokenizer.tokenize(sentences).flat_values.numpy().tolist()
    assert by_sentence == tokenizer.tokenize([text]).flat_values.numpy().tolist()
    assert "".join(sentences) == text


def test_a_given_byte_bpe_vocab_file_is_copied_with_its_merges(learned, tmp_path):
    _, path = learned("byte_bpe")
    config = VocabConfig(tokenizer="byte_bpe", vocab_file=path)

    vocabulary = learn_vocabulary(beam.Pipeline(), "unused", config,
                                  str(tmp_path / "copy" / "vocab.json"))

    assert vocabulary == load_tokenizer(config, path).vocabulary
    assert (tokenizer_bytes("byte_bpe", str(tmp_path / "copy"))
            == tokenizer_bytes("byte_bpe", path))


def test_a_given_tokenizer_with_a_missing_file_is_refused_naming_it(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")
    config = VocabConfig(tokenizer="byte_bpe", vocab_file=str(tmp_path / "vocab.json"))

    with pytest.raises(FileNotFoundError, match=r"missing: .*merges\.txt"):
        learn_vocabulary(beam.Pipeline(), "unused", config, str(tmp_path / "out" / "vocab.json"))
