"""full_sentences over blocks: each block packs in place, the blocks' tails pack together
in buckets; no token is lost at a block's edge and only a bucket's last sequence is short.
Document shards must be in file order to be cut into blocks."""
import collections
import glob
import os
import random

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf

from cloze.config import SPECIAL_TOKENS, DataConfig, VocabConfig
from cloze.data.blocks import DocumentBlock, ReadDocumentBlocks
from cloze.data.corpus import CorpusError, Document
from cloze.data.features import feature_spec, serialize_document
from cloze.data.mlm_examples import TokenizePackMask
from cloze.data.shards import WriteShards

WORDS = [f"w{number}" for number in range(30)]
CONFIG = DataConfig(max_seq_length=16, max_predictions_per_seq=2, masking="none",
                    packing_buckets=3, num_shards=2)


def test_blocks_pack_every_token_once_and_only_bucket_tails_are_short(tmp_path):
    vocab_path = tmp_path / "vocab.txt"
    vocab_path.write_text("\n".join([*SPECIAL_TOKENS, *WORDS, "."]) + "\n")
    rng = random.Random(0)
    blocks = [DocumentBlock.from_documents([]) for _ in range(12)]
    for number in range(12 * 40):
        # Capitalised, so that each "." ends a sentence (the tokenizer lower-cases).
        text = " ".join(" ".join(rng.choices(WORDS, k=rng.randint(2, 9))).upper() + "."
                        for _ in range(rng.randint(1, 4)))
        block = blocks[number // 40]
        block.ids.append(f"f{number // 40}.txt:{number}")
        block.texts.append(text)

    with beam.Pipeline() as pipeline:
        _ = (pipeline | beam.Create(blocks)
             | TokenizePackMask(str(vocab_path), VocabConfig(lower_case=True), CONFIG,
                                spill_dir=str(tmp_path / "out"))
             | WriteShards(str(tmp_path / "out"), CONFIG.num_shards))

    spec = feature_spec(CONFIG.max_seq_length, CONFIG.max_predictions_per_seq, masked=False)
    files = sorted(glob.glob(os.path.join(tmp_path, "out", "data_tfrecord-*")))
    rows = [tf.io.parse_single_example(record, spec)
            for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    lengths = np.array([int(row["input_mask"].numpy().sum()) for row in rows])
    vocabulary = [*SPECIAL_TOKENS, *WORDS, "."]
    written = collections.Counter(
        vocabulary[token] for row, length in zip(rows, lengths)
        for token in row["input_ids"].numpy()[:length] if vocabulary[token] not in SPECIAL_TOKENS)
    expected = collections.Counter(
        word for block in blocks for text in block.texts
        for word in text.lower().replace(".", " .").split())

    assert written == expected
    # A sequence closes only when the next sentence (at most 10 tokens), and a [SEP]
    # before it, would not fit in 14: so with at least 4 tokens, but a bucket's last.
    assert np.sum(lengths < 4 + 2) <= CONFIG.packing_buckets
    assert np.sum(lengths < CONFIG.max_seq_length) > CONFIG.packing_buckets  # not vacuous


def test_document_shards_out_of_file_order_fail_naming_the_shard_and_document(tmp_path):
    docs = [Document("a.txt:5", "x"), Document("a.txt:1", "y")]  # sorted by a plain hash
    with beam.Pipeline() as pipeline:
        _ = (pipeline | beam.Create([[(bytes([n]), serialize_document(d))
                                      for n, d in enumerate(docs)]])
             | WriteShards(str(tmp_path), num_shards=1))

    with pytest.raises(Exception, match=r"data_tfrecord-00000-of-00001.gz:2: document "
                                        r"'a.txt:1' is out of file order") as caught:
        with beam.Pipeline() as pipeline:
            _ = pipeline | ReadDocumentBlocks(str(tmp_path / "data_tfrecord-*"))
    assert isinstance(caught.value, CorpusError) or "CorpusError" in str(caught.value)
