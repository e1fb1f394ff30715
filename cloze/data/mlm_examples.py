"""Beam transforms from documents to masked-LM records, and the train/eval split rule.

``TokenizePackMask`` reads like the data flow: ``Tokenize`` (batched TF op,
sentence by sentence) -> ``Pack`` (``DataConfig.packing``, see ``packing``) ->
``Mask`` (``masking``, batched numpy) -> lists of keyed records for
``shards.WriteShards``. Packing buckets are sorted on disk (``sorted_runs``).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
from typing import Iterable, Iterator, List, Tuple, Union

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import Metrics

from cloze.config import DataConfig, VocabConfig
from cloze.data.corpus import COUNTER_NAMESPACE, Document
from cloze.data.features import serialize_examples
from cloze.data.masking import MaskedBatch, mask_batch, mask_sequence, sequence_rng, sequence_seed
from cloze.data.packing import (PackedSequence, TokenizedBatch, TokenizedDocument, pack_document,
                                pack_full_sentences, pair_sequences)
from cloze.data.sentences import split_sentences
from cloze.data.shards import KeyedRecord, keyed_record
from cloze.data.sorted_runs import SPILL_BUDGET_BYTES, SpillSortedRuns, grouped, merge_runs
from cloze.data.tokenizers import (batch_token_ids, load_tokenizer, tokenizer_sha256,
                                   word_continuations)


# The counters of TokenizePackMask (each followed by its counter_suffix).
EXAMPLES_COUNTERS = ("documents_tokenized", "documents_packed", "documents_skipped_no_tokens",
                     "documents_skipped_no_pair", "sequences_written", "masked_tokens")
# Sequences per element between Pack and Mask: big enough for numpy to pay off.
PACKED_BATCH_SIZE = 256


class TokenizePackMask(beam.PTransform):
    """Documents -> lists of keyed masked-LM records (``shards.keyed_record``) for ``WriteShards``.

    Work travels in batches: ``Tokenize`` turns a batch of documents into one
    ``TokenizedBatch``, ``Pack`` emits lists of up to ``PACKED_BATCH_SIZE``
    sequences and ``Mask`` masks and serializes a list at once. The tokenizer
    (``vocab.tokenizer`` over its files at ``tokenizer_path``, see
    ``tokenizers.load_tokenizer``) gives the ids of ``cls``, ``sep``, ``mask``
    and ``pad`` and the special tokens that are never masked. Random choices
    are seeded by ``config.seed`` and each sequence's key (see ``packing``),
    so the output depends on the seed and the documents only, not on how Beam
    batches them. ``spill_dir`` and ``spill_budget_bytes`` are
    ``PackSequences``'. Counters, each name followed by ``counter_suffix``:
    ``documents_tokenized`` (every document in) = ``documents_packed`` +
    ``documents_skipped_no_tokens`` + ``documents_skipped_no_pair``
    (``doc_pairs`` only: a one-token document with nothing to pair with);
    ``sequences_written`` and ``masked_tokens``.

    Example:
    >>> import os, tempfile
    >>> from cloze.config import SPECIAL_TOKENS
    >>> vocab_path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> with open(vocab_path, "w") as f:
    ...     _ = f.write("\\n".join(list(SPECIAL_TOKENS) + ["a", "b", "c"]) + "\\n")
    >>> documents = [Document("x.txt:1", "a b c a b c a b"), Document("y.txt:1", "C")]
    >>> config = DataConfig(8, 2, packing="sentences")
    >>> with beam.Pipeline() as p:  # 8 tokens need two sequences of length 8, "C" one
    ...     _ = (p | beam.Create(documents)
    ...          | TokenizePackMask(vocab_path, VocabConfig(lower_case=True), config,
    ...                             spill_dir=tempfile.mkdtemp())
    ...          | beam.FlatMap(list)
    ...          | beam.combiners.Count.Globally() | beam.Map(print))
    3
    """

    def __init__(self, tokenizer_path: str, vocab: VocabConfig, config: DataConfig,
                 spill_dir: str, counter_suffix: str = "",
                 spill_budget_bytes: int = SPILL_BUDGET_BYTES):
        super().__init__()
        self._path = tokenizer_path
        self._vocab = vocab
        self._config = config
        self._spill_dir = spill_dir
        self._suffix = counter_suffix
        self._budget = spill_budget_bytes

    def expand(self, documents):
        config = self._config
        tokenizer = shared_tokenizer(self._path, self._vocab)
        return (documents
                | "Batch" >> beam.BatchElements(min_batch_size=64, max_batch_size=1024)
                | "Tokenize" >> beam.ParDo(_TokenizeFn(
                    self._path, self._vocab, config.packing != "sentences", self._suffix))
                | "Pack" >> PackSequences(config, tokenizer.cls_token_id, tokenizer.sep_token_id,
                                          self._spill_dir, self._suffix,
                                          pair_layout=tokenizer.pair_layout,
                                          spill_budget_bytes=self._budget)
                | "Mask" >> beam.ParDo(_MaskFn(self._path, self._vocab, config, self._suffix)))


class _TokenizeFn(beam.DoFn):
    """A batch of documents -> one ``TokenizedBatch``; the tokenizer is built once per worker."""

    def __init__(self, tokenizer_path: str, vocab: VocabConfig, by_sentence: bool,
                 counter_suffix: str):
        self._path = tokenizer_path
        self._vocab = vocab
        self._by_sentence = by_sentence
        self._tokenized = Metrics.counter(COUNTER_NAMESPACE, "documents_tokenized" + counter_suffix)
        self._no_tokens = Metrics.counter(COUNTER_NAMESPACE,
                                          "documents_skipped_no_tokens" + counter_suffix)

    def setup(self):
        # The token ids of a list of texts, flat, and their row splits.
        self._token_ids = batch_token_ids(shared_tokenizer(self._path, self._vocab))

    def _sentences(self, text: str) -> List[str]:
        if not self._by_sentence:
            return [text]
        if self._vocab.tokenizer == "byte_bpe":
            return whitespace_first(split_sentences(text))
        return split_sentences(text)

    def process(self, documents: List[Document]) -> Iterator[TokenizedBatch]:
        texts = [self._sentences(doc.text) for doc in documents]
        values, row_splits = self._token_ids([sentence for sentences in texts
                                              for sentence in sentences])
        lengths = np.diff(row_splits)
        document_of = np.repeat(np.arange(len(documents)), [len(t) for t in texts])
        kept = lengths > 0
        sentences_per_document = np.bincount(document_of[kept], minlength=len(documents))
        has_tokens = sentences_per_document > 0
        self._tokenized.inc(len(documents))
        self._no_tokens.inc(int(len(documents) - has_tokens.sum()))
        if has_tokens.any():
            yield TokenizedBatch.from_lengths(
                [doc.id for doc, keep in zip(documents, has_tokens.tolist()) if keep],
                values, lengths[kept], sentences_per_document[has_tokens])


def whitespace_first(sentences: List[str]) -> List[str]:
    """Moves the whitespace that ends each sentence to the start of the next one.

    Byte-level BPE (GPT-2, RoBERTa) keeps a word's leading space in its token
    (``Ġthe``), so a sentence tokenized alone must start with the space that
    precedes it in the text; the sentences then tokenize as the whole text
    does. The last sentence keeps its trailing whitespace; ``"".join`` is
    unchanged.

    Example:
    >>> whitespace_first(["It works. ", "See?  ", "Yes.\\n"])
    ['It works.', ' See?', '  Yes.\\n']
    """
    moved, before = [], ""
    for sentence in sentences:
        body = sentence.rstrip()
        moved.append(before + body)
        before = sentence[len(body):]
    if moved:
        moved[-1] += before
    return moved


def shared_tokenizer(tokenizer_path: str, vocab: VocabConfig):
    """``tokenizers.load_tokenizer``, cached per process by the files' sha256.

    Building one takes seconds; the train and eval splits' DoFns in a worker
    share it, and so do the pipeline's construction and the manifest. Files
    rewritten in place are read again.
    """
    return _cached_tokenizer(tokenizer_path, vocab,
                             tokenizer_sha256(vocab.tokenizer, tokenizer_path))


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(tokenizer_path: str, vocab: VocabConfig, sha256: str):
    return load_tokenizer(vocab, tokenizer_path)


class PackSequences(beam.PTransform):
    """``TokenizedBatch`` -> lists of ``PackedSequence``, ``config.dupe_factor`` copies each.

    ``sentences`` packs each document alone. ``full_sentences`` and
    ``doc_pairs`` group documents into ``config.packing_buckets`` buckets by a
    sha256 of their id and read each bucket in id order, so what crosses
    document boundaries (or supplies random segments B) does not depend on
    Beam's order. The sort is on disk: each bundle spills its documents as
    runs sorted by id under ``spill_dir`` (``sorted_runs.SpillSortedRuns``,
    ``spill_budget_bytes`` buffered), only run paths are grouped by bucket, and
    ``full_sentences`` packs a bucket as a stream merged from its runs, so
    memory does not grow with the corpus; ``doc_pairs``, which draws segments
    B from anywhere in the bucket, holds one bucket at a time. The runs stay
    until ``shards.remove_temporaries`` clears ``spill_dir`` (a retried bundle
    reads them again). The copy number ends every key. Lists hold at most
    ``PACKED_BATCH_SIZE`` sequences. ``pair_layout`` is the tokenizer's
    (``"bert"`` or RoBERTa's ``"roberta"``, see ``packing.pair_sequences``).
    Counters ``documents_packed`` and ``documents_skipped_no_pair``, followed
    by ``counter_suffix``.

    Example:
    >>> import tempfile
    >>> docs = [TokenizedDocument("a", [np.array([10, 11])]),
    ...         TokenizedDocument("b", [np.array([20])])]
    >>> with beam.Pipeline() as p:  # doctest: +NORMALIZE_WHITESPACE
    ...     _ = (p | beam.Create([TokenizedBatch.from_documents(docs)])
    ...          | PackSequences(DataConfig(packing_buckets=1), 2, 3, tempfile.mkdtemp())
    ...          | beam.Map(print))
    [PackedSequence(key=('a', 0, 0), token_ids=array([ 2, 10, 11,  3, 20,  3]),
                    segment_ids=array([0, 0, 0, 0, 0, 0]), next_sentence_label=0)]
    """

    def __init__(self, config: DataConfig, cls_id: int, sep_id: int, spill_dir: str,
                 counter_suffix: str = "", pair_layout: str = "bert",
                 spill_budget_bytes: int = SPILL_BUDGET_BYTES):
        super().__init__()
        self._fn = _PackFn(config, cls_id, sep_id, counter_suffix, pair_layout)
        self._buckets = config.packing_buckets
        self._alone = config.packing == "sentences"
        self._spill_dir = spill_dir
        self._budget = spill_budget_bytes

    def expand(self, batches):
        if self._alone:
            return batches | "PackEach" >> beam.ParDo(self._fn)
        return (batches
                | "SpillByBucket" >> beam.ParDo(SpillSortedRuns(
                    self._spill_dir,
                    functools.partial(_documents_by_bucket, num_buckets=self._buckets),
                    self._budget))
                | "GroupBuckets" >> beam.GroupByKey()
                | "PackBucket" >> beam.ParDo(self._fn))


def _documents_by_bucket(batch: TokenizedBatch, num_buckets: int
                         ) -> Iterable[Tuple[int, List[Tuple[bytes, bytes]]]]:
    """(bucket, the encoded documents of ``batch`` that go there), for each bucket they touch."""
    return grouped(batch.encoded_documents(), lambda item: packing_bucket(
        item[0].decode("utf-8", "surrogatepass"), num_buckets))


def packing_bucket(doc_id: str, num_buckets: int) -> int:
    """The packing bucket of a document: a sha256 of its id (salted apart from the eval split).

    Example:
    >>> [packing_bucket(f"a.txt:{n}", 4) for n in range(1, 7)]
    [1, 1, 2, 3, 3, 3]
    """
    digest = hashlib.sha256(json.dumps(["packing", doc_id]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_buckets


class _PackFn(beam.DoFn):
    """A batch of documents (``sentences``) or a sorted bucket -> lists of packed sequences."""

    def __init__(self, config: DataConfig, cls_id: int, sep_id: int, counter_suffix: str,
                 pair_layout: str):
        self._config = config
        self._cls_id, self._sep_id = cls_id, sep_id
        self._pair_layout = pair_layout
        self._packed = Metrics.counter(COUNTER_NAMESPACE, "documents_packed" + counter_suffix)
        self._no_pair = Metrics.counter(COUNTER_NAMESPACE,
                                        "documents_skipped_no_pair" + counter_suffix)

    def process(self, element: Union[TokenizedBatch, Tuple[int, Iterable[str]]]
                ) -> Iterator[List[PackedSequence]]:
        """A batch of documents (``sentences``) or ``(bucket, its sorted runs)``."""
        if self._config.packing == "sentences":
            documents = element.documents()
        else:
            # Ids are unique within a split; were two equal, their tokens would order them.
            documents = (TokenizedDocument.decode(*item) for item in merge_runs(element[1]))
        sequences = self._sequences(documents)
        while True:
            chunk = list(itertools.islice(sequences, PACKED_BATCH_SIZE))
            if not chunk:
                return
            yield chunk

    def _sequences(self, documents: Iterator[TokenizedDocument]) -> Iterator[PackedSequence]:
        config = self._config
        if config.packing == "doc_pairs":
            yield from self._pairs(list(documents))
            return
        if config.packing == "sentences":
            sequences = (PackedSequence((doc.id, chunk), tokens, np.zeros_like(tokens), 0)
                         for doc in self._counted(documents)
                         for chunk, tokens in enumerate(pack_document(
                             np.concatenate(doc.sentences), config.max_seq_length,
                             self._cls_id, self._sep_id)))
        else:
            sequences = pack_full_sentences(self._counted(documents), config.max_seq_length,
                                            self._cls_id, self._sep_id)
        for sequence in sequences:
            for copy in range(config.dupe_factor):
                yield sequence._replace(key=sequence.key + (copy,))

    def _counted(self, documents: Iterator[TokenizedDocument]) -> Iterator[TokenizedDocument]:
        """``documents``, counted in ``documents_packed`` once all are read (once per element)."""
        count = 0
        for count, doc in enumerate(documents, 1):
            yield doc
        self._packed.inc(count)

    def _pairs(self, documents: List[TokenizedDocument]) -> Iterator[PackedSequence]:
        config = self._config
        for index, doc in enumerate(documents):
            paired = False
            for copy in range(config.dupe_factor):
                rng = sequence_rng(config.seed, "pairs", doc.id, copy)
                for pair in pair_sequences(documents, index, rng, config.max_seq_length,
                                           config.short_seq_prob, config.pair_task,
                                           self._cls_id, self._sep_id, self._pair_layout):
                    paired = True
                    yield pair._replace(key=pair.key + (copy,))
            (self._packed if paired else self._no_pair).inc()


class _MaskFn(beam.DoFn):
    """A list of ``PackedSequence`` -> a list of keyed masked-LM records (or unmasked ones).

    Sequences are padded with the tokenizer's pad id (RoBERTa's is 1, its 0 being ``<s>``).
    """

    def __init__(self, tokenizer_path: str, vocab: VocabConfig, config: DataConfig,
                 counter_suffix: str):
        self._path = tokenizer_path
        self._vocab = vocab
        self._config = config
        self._written = Metrics.counter(COUNTER_NAMESPACE, "sequences_written" + counter_suffix)
        self._masked = Metrics.counter(COUNTER_NAMESPACE, "masked_tokens" + counter_suffix)

    def setup(self):
        tokenizer = shared_tokenizer(self._path, self._vocab)
        self._vocab_size = len(tokenizer.vocabulary)
        self._special_ids = tokenizer.special_token_ids()
        self._mask_id = tokenizer.mask_token_id
        self._pad_id = tokenizer.pad_token_id
        self._continuation = word_continuations(self._vocab.tokenizer, tokenizer.vocabulary)

    def process(self, sequences: List[PackedSequence]) -> Iterator[List[KeyedRecord]]:
        config = self._config
        length = config.max_seq_length
        token_ids = np.full((len(sequences), length), self._pad_id, np.int64)
        segment_ids = np.zeros_like(token_ids)
        lengths = np.array([len(s.token_ids) for s in sequences])
        for row, sequence in enumerate(sequences):
            token_ids[row, :lengths[row]] = sequence.token_ids
            segment_ids[row, :lengths[row]] = sequence.segment_ids
        features = {
            "input_ids": token_ids,
            "input_mask": (np.arange(length) < lengths[:, None]).astype(np.int64),
            "segment_ids": segment_ids,
            "next_sentence_labels": np.array([[s.next_sentence_label] for s in sequences]),
        }
        if config.masking == "static":
            masked = self._mask(sequences, token_ids, lengths)
            slots = np.arange(config.max_predictions_per_seq)
            features.update(input_ids=masked.input_ids, masked_lm_positions=masked.positions,
                            masked_lm_ids=masked.labels, masked_lm_weights=(
                                slots < masked.counts[:, None]).astype(np.float32))
            self._masked.inc(int(masked.counts.sum()))
        self._written.inc(len(sequences))
        yield [keyed_record(sequence.key, record) for sequence, record in zip(
            sequences, serialize_examples(features, config.feature_names))]

    def _mask(self, sequences: List[PackedSequence], token_ids: np.ndarray, lengths: np.ndarray
              ) -> MaskedBatch:
        config = self._config
        if not (config.whole_word_masking or config.max_ngram > 1):
            seeds = np.array([sequence_seed(config.seed, *s.key) for s in sequences], np.uint64)
            return mask_batch(token_ids, lengths, seeds, config, self._mask_id,
                              self._special_ids, self._vocab_size)
        # Spans (whole words, n-grams) are chosen one sequence at a time.
        masked = MaskedBatch(token_ids.copy(), *np.zeros(
            (2, len(sequences), config.max_predictions_per_seq), np.int64),
            np.zeros(len(sequences), np.int64))
        for row, sequence in enumerate(sequences):
            one = mask_sequence(sequence.token_ids, sequence_rng(config.seed, *sequence.key),
                                config, self._mask_id, self._special_ids,
                                self._vocab_size, self._continuation[sequence.token_ids])
            count = len(one.positions)
            masked.input_ids[row, :lengths[row]] = one.input_ids
            masked.positions[row, :count] = one.positions
            masked.labels[row, :count] = one.labels
            masked.counts[row] = count
        return masked


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
