"""Beam transforms from documents to masked-LM TFRecords, and the train/eval split rule."""
from __future__ import annotations

import hashlib
from typing import Iterator, List, Sequence

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics

from cloze.config import SPECIAL_TOKENS, DataConfig
from cloze.data.corpus import COUNTER_NAMESPACE, Document
from cloze.data.features import make_example
from cloze.data.masking import mask_sequence, sequence_rng
from cloze.data.packing import pack_document
from cloze.data.wordpiece import fast_bert_tokenizer

SHARD_PREFIX = "data_tfrecord"


class TokenizePackMask(beam.PTransform):
    """Documents -> masked-LM examples (``tf.train.Example``, BERT's features; see ``features``).

    Each document is tokenized, packed by ``pack_document`` and masked by
    ``mask_sequence`` with ``sequence_rng(config.seed, document id, chunk
    index)``, so the output depends on the seed and the documents only.
    Counters: ``documents_tokenized`` (every document in),
    ``documents_skipped_no_tokens`` (of those, the ones that give no token),
    ``sequences_written`` and ``masked_tokens`` (positions to predict), each
    name followed by ``counter_suffix``.

    Example:
    >>> vocabulary = list(SPECIAL_TOKENS) + ["a", "b", "c"]
    >>> documents = [Document("x.txt:1", "a b c a b c a b"), Document("y.txt:1", "C")]
    >>> with beam.Pipeline() as p:  # 8 tokens need two sequences of length 8, "C" one
    ...     _ = (p | beam.Create(documents)
    ...          | TokenizePackMask(vocabulary, lower_case=True, config=DataConfig(8, 2))
    ...          | beam.combiners.Count.Globally() | beam.Map(print))
    3
    """

    def __init__(self, vocabulary: List[str], lower_case: bool, config: DataConfig,
                 counter_suffix: str = ""):
        super().__init__()
        self._fn = _TokenizePackMaskFn(vocabulary, lower_case, config, counter_suffix)

    def expand(self, documents):
        return (documents
                | "Batch" >> beam.BatchElements(max_batch_size=256)
                | "TokenizePackMask" >> beam.ParDo(self._fn))


class _TokenizePackMaskFn(beam.DoFn):
    """A batch of documents -> their masked-LM examples; the tokenizer is built once per worker."""

    _COUNTERS = ("documents_tokenized", "documents_skipped_no_tokens", "sequences_written",
                 "masked_tokens")

    def __init__(self, vocabulary: Sequence[str], lower_case: bool, config: DataConfig,
                 counter_suffix: str):
        self._vocabulary = list(vocabulary)
        self._lower_case = lower_case
        self._config = config
        self._count = {name: Metrics.counter(COUNTER_NAMESPACE, name + counter_suffix)
                       for name in self._COUNTERS}

    def setup(self):
        self._tokenizer = fast_bert_tokenizer(self._vocabulary, self._lower_case)
        self._special_ids = [self._vocabulary.index(token) for token in SPECIAL_TOKENS]
        self._cls_id, self._sep_id, self._mask_id = (
            self._vocabulary.index(token) for token in ("[CLS]", "[SEP]", "[MASK]"))

    def process(self, documents: List[Document]) -> Iterator[tf.train.Example]:
        token_ids = self._tokenizer.tokenize(tf.constant([doc.text for doc in documents]))
        values, row_splits = token_ids.values.numpy(), token_ids.row_splits.numpy()
        for doc, start, end in zip(documents, row_splits[:-1], row_splits[1:]):
            yield from self._examples(doc, values[start:end])

    def _examples(self, doc: Document, token_ids: np.ndarray) -> Iterator[tf.train.Example]:
        config = self._config
        sequences = pack_document(token_ids, config.max_seq_length, self._cls_id, self._sep_id)
        self._count["documents_tokenized"].inc()
        if not sequences:
            self._count["documents_skipped_no_tokens"].inc()
        for chunk_index, sequence in enumerate(sequences):
            masked = mask_sequence(sequence, sequence_rng(config.seed, doc.id, chunk_index),
                                   config, self._mask_id, self._special_ids,
                                   len(self._vocabulary))
            self._count["sequences_written"].inc()
            self._count["masked_tokens"].inc(len(masked.positions))
            yield make_example(masked.input_ids, masked.positions, masked.labels,
                               config.max_seq_length, config.max_predictions_per_seq)


def is_eval_document(doc_id: str, eval_percent: int) -> bool:
    """Whether the document goes to the eval split: ``eval_percent`` % of ids, by sha256.

    Stable across runs, machines and Python processes (unlike ``hash()``), and
    independent of the other documents.

    Example:
    >>> [is_eval_document(f"a.txt:{line}", eval_percent=50) for line in range(1, 6)]
    [True, False, True, True, True]
    >>> sum(is_eval_document(f"a.txt:{line}", eval_percent=5) for line in range(1, 1001))
    58
    """
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < eval_percent


class WriteExamples(beam.PTransform):
    """Examples -> ``output_dir/data_tfrecord-SSSSS-of-NNNNN.gz``, gzipped TFRecord shards.

    Exactly ``num_shards`` files are written, empty ones included, so a reader's
    glob always matches.

    Example:
    >>> import os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> with beam.Pipeline() as p:
    ...     _ = p | beam.Create([tf.train.Example()]) | WriteExamples(out, num_shards=2)
    >>> sorted(os.listdir(out))
    ['data_tfrecord-00000-of-00002.gz', 'data_tfrecord-00001-of-00002.gz']
    """

    def __init__(self, output_dir: str, num_shards: int):
        super().__init__()
        self._output_dir = output_dir
        self._num_shards = num_shards

    def expand(self, examples):
        return examples | "WriteTFRecords" >> beam.io.WriteToTFRecord(
            FileSystems.join(self._output_dir, SHARD_PREFIX),
            coder=beam.coders.ProtoCoder(tf.train.Example),
            file_name_suffix=".gz",
            num_shards=self._num_shards,
            compression_type=CompressionTypes.GZIP)
