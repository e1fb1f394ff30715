"""Beam transforms from documents to masked-LM records, and the train/eval split rule.

``TokenizePackMask`` reads like the data flow: ``Tokenize`` (batched TF op,
sentence by sentence) -> ``Pack`` (``DataConfig.packing``, see ``packing``) ->
``Mask`` (``masking``) -> keyed records for ``shards.WriteShards``.
"""
from __future__ import annotations

import hashlib
import json
from typing import Iterator, List, Sequence, Union

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.metrics.metric import Metrics

from cloze.config import SPECIAL_TOKENS, DataConfig
from cloze.data.corpus import COUNTER_NAMESPACE, Document
from cloze.data.features import make_example
from cloze.data.masking import mask_sequence, sequence_rng
from cloze.data.packing import (PackedSequence, TokenizedDocument, pack_document,
                                pack_full_sentences, pair_sequences)
from cloze.data.sentences import split_sentences
from cloze.data.shards import KeyedRecord, keyed_record
from cloze.data.wordpiece import fast_bert_tokenizer


class TokenizePackMask(beam.PTransform):
    """Documents -> keyed masked-LM records (``shards.keyed_record``) for ``WriteShards``.

    Random choices are seeded by ``config.seed`` and the sequence's key (see
    ``packing``), so the output depends on the seed and the documents only.
    Counters, each name followed by ``counter_suffix``: ``documents_tokenized``
    (every document in) = ``documents_packed`` + ``documents_skipped_no_tokens``
    + ``documents_skipped_no_pair`` (``doc_pairs`` only: a one-token document
    with nothing to pair with); ``sequences_written`` and ``masked_tokens``.

    Example:
    >>> vocabulary = list(SPECIAL_TOKENS) + ["a", "b", "c"]
    >>> documents = [Document("x.txt:1", "a b c a b c a b"), Document("y.txt:1", "C")]
    >>> config = DataConfig(8, 2, packing="sentences")
    >>> with beam.Pipeline() as p:  # 8 tokens need two sequences of length 8, "C" one
    ...     _ = (p | beam.Create(documents)
    ...          | TokenizePackMask(vocabulary, lower_case=True, config=config)
    ...          | beam.combiners.Count.Globally() | beam.Map(print))
    3
    """

    def __init__(self, vocabulary: List[str], lower_case: bool, config: DataConfig,
                 counter_suffix: str = ""):
        super().__init__()
        self._vocabulary = list(vocabulary)
        self._lower_case = lower_case
        self._config = config
        self._suffix = counter_suffix

    def expand(self, documents):
        config, vocabulary = self._config, self._vocabulary
        return (documents
                | "Batch" >> beam.BatchElements(max_batch_size=256)
                | "Tokenize" >> beam.ParDo(_TokenizeFn(
                    vocabulary, self._lower_case, config.packing != "sentences", self._suffix))
                | "Pack" >> PackSequences(config, vocabulary.index("[CLS]"),
                                          vocabulary.index("[SEP]"), self._suffix)
                | "Mask" >> beam.ParDo(_MaskFn(vocabulary, config, self._suffix)))


class _TokenizeFn(beam.DoFn):
    """A batch of documents -> ``TokenizedDocument``; the tokenizer is built once per worker."""

    def __init__(self, vocabulary: Sequence[str], lower_case: bool, by_sentence: bool,
                 counter_suffix: str):
        self._vocabulary = list(vocabulary)
        self._lower_case = lower_case
        self._by_sentence = by_sentence
        self._tokenized = Metrics.counter(COUNTER_NAMESPACE, "documents_tokenized" + counter_suffix)
        self._no_tokens = Metrics.counter(COUNTER_NAMESPACE,
                                          "documents_skipped_no_tokens" + counter_suffix)

    def setup(self):
        self._tokenizer = fast_bert_tokenizer(self._vocabulary, self._lower_case)

    def process(self, documents: List[Document]) -> Iterator[TokenizedDocument]:
        texts = [split_sentences(doc.text) if self._by_sentence else [doc.text]
                 for doc in documents]
        flat = [sentence for sentences in texts for sentence in sentences]
        token_ids = self._tokenizer.tokenize(tf.constant(flat, tf.string))
        values, row_splits = token_ids.values.numpy(), token_ids.row_splits.numpy()
        sentence = 0
        for doc, sentences in zip(documents, texts):
            self._tokenized.inc()
            arrays = [values[row_splits[i]:row_splits[i + 1]]
                      for i in range(sentence, sentence + len(sentences))]
            sentence += len(sentences)
            arrays = [a for a in arrays if len(a)]
            if arrays:
                yield TokenizedDocument(doc.id, arrays)
            else:
                self._no_tokens.inc()


class PackSequences(beam.PTransform):
    """``TokenizedDocument`` -> ``PackedSequence``, ``config.dupe_factor`` copies, by ``config.packing``.

    ``sentences`` packs each document alone. ``full_sentences`` and
    ``doc_pairs`` group documents into ``config.packing_buckets`` buckets by a
    sha256 of their id and sort each bucket by id, so what crosses document
    boundaries (or supplies random segments B) does not depend on Beam's
    order. The copy number ends every key. Counters ``documents_packed`` and
    ``documents_skipped_no_pair``, followed by ``counter_suffix``.

    Example:
    >>> docs = [TokenizedDocument("a", [np.array([10, 11])]),
    ...         TokenizedDocument("b", [np.array([20])])]
    >>> with beam.Pipeline() as p:  # doctest: +NORMALIZE_WHITESPACE
    ...     _ = (p | beam.Create(docs) | PackSequences(DataConfig(packing_buckets=1), 2, 3)
    ...          | beam.Map(print))
    PackedSequence(key=('a', 0, 0), token_ids=array([ 2, 10, 11,  3, 20,  3]),
                   segment_ids=array([0, 0, 0, 0, 0, 0]), next_sentence_label=0)
    """

    def __init__(self, config: DataConfig, cls_id: int, sep_id: int, counter_suffix: str = ""):
        super().__init__()
        self._fn = _PackFn(config, cls_id, sep_id, counter_suffix)
        self._buckets = config.packing_buckets
        self._alone = config.packing == "sentences"

    def expand(self, documents):
        if self._alone:
            return documents | "PackEach" >> beam.ParDo(self._fn)
        buckets = self._buckets
        return (documents
                | "KeyByBucket" >> beam.Map(lambda doc: (packing_bucket(doc.id, buckets), doc))
                | "GroupBuckets" >> beam.GroupByKey()
                | "SortById" >> beam.Map(lambda bucket: sorted(bucket[1], key=lambda doc: doc.id))
                | "PackBucket" >> beam.ParDo(self._fn))


def packing_bucket(doc_id: str, num_buckets: int) -> int:
    """The packing bucket of a document: a sha256 of its id (salted apart from the eval split).

    Example:
    >>> [packing_bucket(f"a.txt:{n}", 4) for n in range(1, 7)]
    [1, 1, 2, 3, 3, 3]
    """
    digest = hashlib.sha256(json.dumps(["packing", doc_id]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_buckets


class _PackFn(beam.DoFn):
    """A document (``sentences``) or a sorted bucket of them -> packed sequences and copies."""

    def __init__(self, config: DataConfig, cls_id: int, sep_id: int, counter_suffix: str):
        self._config = config
        self._cls_id, self._sep_id = cls_id, sep_id
        self._packed = Metrics.counter(COUNTER_NAMESPACE, "documents_packed" + counter_suffix)
        self._no_pair = Metrics.counter(COUNTER_NAMESPACE,
                                        "documents_skipped_no_pair" + counter_suffix)

    def process(self, element: Union[TokenizedDocument, List[TokenizedDocument]]
                ) -> Iterator[PackedSequence]:
        config = self._config
        if config.packing == "doc_pairs":
            yield from self._pairs(element)
            return
        if config.packing == "sentences":
            self._packed.inc()
            sequences = (PackedSequence((element.id, chunk), tokens, np.zeros_like(tokens), 0)
                         for chunk, tokens in enumerate(pack_document(
                             np.concatenate(element.sentences), config.max_seq_length,
                             self._cls_id, self._sep_id)))
        else:
            self._packed.inc(len(element))
            sequences = pack_full_sentences(element, config.max_seq_length, self._cls_id,
                                            self._sep_id)
        for sequence in sequences:
            for copy in range(config.dupe_factor):
                yield sequence._replace(key=sequence.key + (copy,))

    def _pairs(self, documents: List[TokenizedDocument]) -> Iterator[PackedSequence]:
        config = self._config
        for index, doc in enumerate(documents):
            paired = False
            for copy in range(config.dupe_factor):
                rng = sequence_rng(config.seed, "pairs", doc.id, copy)
                for pair in pair_sequences(documents, index, rng, config.max_seq_length,
                                           config.short_seq_prob, config.pair_task,
                                           self._cls_id, self._sep_id):
                    paired = True
                    yield pair._replace(key=pair.key + (copy,))
            (self._packed if paired else self._no_pair).inc()


class _MaskFn(beam.DoFn):
    """``PackedSequence`` -> keyed masked-LM record (or unmasked, with ``masking="none"``)."""

    def __init__(self, vocabulary: Sequence[str], config: DataConfig, counter_suffix: str):
        self._vocabulary = list(vocabulary)
        self._config = config
        self._written = Metrics.counter(COUNTER_NAMESPACE, "sequences_written" + counter_suffix)
        self._masked = Metrics.counter(COUNTER_NAMESPACE, "masked_tokens" + counter_suffix)

    def setup(self):
        self._special_ids = [self._vocabulary.index(token) for token in SPECIAL_TOKENS]
        self._mask_id = self._vocabulary.index("[MASK]")
        self._continuation = np.array([token.startswith("##") for token in self._vocabulary])

    def process(self, sequence: PackedSequence) -> Iterator[KeyedRecord]:
        config = self._config
        positions = labels = None
        input_ids = sequence.token_ids
        if config.masking == "static":
            masked = mask_sequence(sequence.token_ids, sequence_rng(config.seed, *sequence.key),
                                   config, self._mask_id, self._special_ids,
                                   len(self._vocabulary), self._continuation[sequence.token_ids])
            input_ids, positions, labels = masked
            self._masked.inc(len(positions))
        self._written.inc()
        yield keyed_record(sequence.key, make_example(
            input_ids, positions, labels, config.max_seq_length, config.max_predictions_per_seq,
            sequence.segment_ids, sequence.next_sentence_label, config.feature_names))


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
