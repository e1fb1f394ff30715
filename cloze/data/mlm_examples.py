"""Beam transforms from blocks of documents to masked-LM records, and the train/eval split rule.

``TokenizePackMask`` reads like the data flow: ``Tokenize`` (a block at a time,
one batched TF op, sentence by sentence) -> ``Pack`` (``DataConfig.packing``,
see ``packing``; a block packs in place, its tail in a bucket) -> ``Mask``
(``masking``, batched numpy) -> lists of keyed records for
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
from apache_beam.pvalue import TaggedOutput

from cloze.config import DataConfig, VocabConfig
from cloze.data.blocks import DocumentBlock
from cloze.data.corpus import COUNTER_NAMESPACE
from cloze.data.features import serialize_examples
from cloze.data.masking import MaskedBatch, mask_batch, mask_sequence, sequence_rng, sequence_seed
from cloze.data.packing import (PackedSequence, TokenizedBatch, TokenizedDocument,
                                pack_batch, pack_document, pack_full_sentences, pair_sequences)
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
    """Blocks of documents -> lists of keyed masked-LM records (``shards.keyed_record``).

    The input is blocks (``blocks``: lists of consecutive documents of a
    file, in order); the output, a tuple of ``PCollection`` (see
    ``PackSequences``), goes to ``WriteShards``. Work travels in
    batches: ``Tokenize`` turns a block into one ``TokenizedBatch``, ``Pack``
    emits lists of up to ``PACKED_BATCH_SIZE`` sequences and ``Mask`` masks
    and serializes a list at once. The tokenizer
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
    >>> blocks = [DocumentBlock(["x.txt:1"], ["a b c a b c a b"]),
    ...           DocumentBlock(["y.txt:1"], ["C"])]
    >>> config = DataConfig(8, 2, packing="sentences")
    >>> with beam.Pipeline() as p:  # 8 tokens need two sequences of length 8, "C" one
    ...     _ = (p | beam.Create(blocks)
    ...          | TokenizePackMask(vocab_path, VocabConfig(lower_case=True), config,
    ...                             spill_dir=tempfile.mkdtemp())
    ...          | beam.Flatten() | beam.FlatMap(list)
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

    def expand(self, blocks):
        config = self._config
        tokenizer = shared_tokenizer(self._path, self._vocab)
        parts = (blocks
                 | "Tokenize" >> beam.ParDo(_TokenizeFn(
                     self._path, self._vocab, config.packing != "sentences", self._suffix))
                 | "Pack" >> PackSequences(config, tokenizer.cls_token_id,
                                           tokenizer.sep_token_id, self._spill_dir,
                                           self._suffix, pair_layout=tokenizer.pair_layout,
                                           spill_budget_bytes=self._budget))
        mask = _MaskFn(self._path, self._vocab, config, self._suffix)
        return tuple(part | ("Mask" if not number else f"Mask{number}") >> beam.ParDo(mask)
                     for number, part in enumerate(parts))


class _TokenizeFn(beam.DoFn):
    """A block of documents -> one ``TokenizedBatch``; the tokenizer is built once per worker."""

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

    def process(self, block: DocumentBlock) -> Iterator[TokenizedBatch]:
        texts = [self._sentences(text) for text in block.texts]
        values, row_splits = self._token_ids([sentence for sentences in texts
                                              for sentence in sentences])
        lengths = np.diff(row_splits)
        count = len(block.ids)
        document_of = np.repeat(np.arange(count), [len(t) for t in texts])
        kept = lengths > 0
        sentences_per_document = np.bincount(document_of[kept], minlength=count)
        has_tokens = sentences_per_document > 0
        self._tokenized.inc(count)
        self._no_tokens.inc(int(count - has_tokens.sum()))
        if has_tokens.any():
            yield TokenizedBatch.from_lengths(
                [doc_id for doc_id, keep in zip(block.ids, has_tokens.tolist()) if keep],
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
    """``TokenizedBatch`` (a block each) -> lists of ``PackedSequence``, ``dupe_factor`` copies.

    Each element is one block of documents (``blocks``), in order. Returns a
    tuple of one or two ``PCollection`` (sequences of blocks, of buckets).
    ``sentences`` packs each document alone. ``full_sentences`` packs each
    block by itself, in order (``packing.pack_batch``), and hands its
    unfinished last sequence on as documents, its tail. The tails, and under
    ``doc_pairs`` every document (segments B come from anywhere in a bucket),
    go into ``config.packing_buckets`` buckets by a sha256 of their id, and
    each bucket is read in id order, so what crosses documents does not depend
    on Beam's order. The bucket sort is on disk: each bundle spills its items
    as runs sorted by id under ``spill_dir`` (``sorted_runs.SpillSortedRuns``,
    ``spill_budget_bytes`` buffered), only run paths are grouped by bucket,
    and ``full_sentences`` packs a bucket's tails as a stream merged from its
    runs, so memory does not grow with the corpus; ``doc_pairs`` holds one
    bucket at a time. The runs stay until ``shards.remove_temporaries`` clears
    ``spill_dir`` (a retried bundle reads them again). The copy number ends
    every key. Lists hold at most ``PACKED_BATCH_SIZE`` sequences.
    ``pair_layout`` is the tokenizer's (``"bert"`` or RoBERTa's
    ``"roberta"``, see ``packing.pair_sequences``). Counters
    ``documents_packed`` and ``documents_skipped_no_pair``, followed by
    ``counter_suffix``.

    Example:
    >>> import operator, tempfile
    >>> blocks = [[TokenizedDocument("a", [np.array([10, 11])]),
    ...            TokenizedDocument("b", [np.array([20])])],
    ...           [TokenizedDocument("c", np.arange(30, 37).reshape(7, 1).tolist())]]
    >>> with beam.Pipeline() as p:  # block tails ('a' and 'b', the last of 'c') pack together
    ...     _ = (p | beam.Create([TokenizedBatch.from_documents(b) for b in blocks])
    ...          | PackSequences(DataConfig(8, 2, packing_buckets=1), 2, 3,
    ...                          tempfile.mkdtemp())
    ...          | beam.Flatten() | beam.FlatMap(list) | beam.Map(operator.itemgetter(0))
    ...          | beam.combiners.ToList() | beam.Map(sorted) | beam.Map(print))
    [('a', 0, 0), ('c', 0, 0)]
    """

    def __init__(self, config: DataConfig, cls_id: int, sep_id: int, spill_dir: str,
                 counter_suffix: str = "", pair_layout: str = "bert",
                 spill_budget_bytes: int = SPILL_BUDGET_BYTES):
        super().__init__()
        self._fn = _PackFn(config, cls_id, sep_id, counter_suffix, pair_layout)
        self._packing = config.packing
        self._buckets = config.packing_buckets
        self._spill_dir = spill_dir
        self._budget = spill_budget_bytes

    def expand(self, batches):
        if self._packing == "sentences":
            return (batches | "PackEach" >> beam.ParDo(self._fn),)
        if self._packing == "doc_pairs":
            return (self._pack_buckets(batches | "Documents" >> beam.Map(
                lambda batch: list(batch.encoded_documents()))),)
        packed = batches | "PackBlocks" >> beam.ParDo(self._fn).with_outputs(
            _TAILS, main="sequences")
        # Two outputs, not flattened: a Flatten of outputs of two stages is materialized.
        return packed.sequences, self._pack_buckets(packed[_TAILS])

    def _pack_buckets(self, encoded_documents):
        return (encoded_documents
                | "SpillByBucket" >> beam.ParDo(SpillSortedRuns(
                    self._spill_dir, functools.partial(_by_bucket, num_buckets=self._buckets),
                    self._budget))
                | "GroupBuckets" >> beam.GroupByKey()
                | "PackBucket" >> beam.ParDo(self._fn))


# PackSequences' second output: lists of encoded documents (tails of blocks) for the buckets.
_TAILS = "tails"


def _by_bucket(items: Iterable[Tuple[bytes, bytes]], num_buckets: int
               ) -> Iterable[Tuple[int, List[Tuple[bytes, bytes]]]]:
    """(bucket, the encoded documents of ``items`` that go there), for each bucket they touch."""
    return grouped(items, lambda item: packing_bucket(
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
    """A block (``TokenizedBatch``) or a bucket's sorted runs -> lists of packed sequences.

    A block packs under ``sentences`` and ``full_sentences`` (its tail going
    to the ``_TAILS`` output); a bucket holds ``full_sentences`` tails or
    ``doc_pairs`` documents.
    """

    def __init__(self, config: DataConfig, cls_id: int, sep_id: int, counter_suffix: str,
                 pair_layout: str):
        self._config = config
        self._cls_id, self._sep_id = cls_id, sep_id
        self._pair_layout = pair_layout
        self._packed = Metrics.counter(COUNTER_NAMESPACE, "documents_packed" + counter_suffix)
        self._no_pair = Metrics.counter(COUNTER_NAMESPACE,
                                        "documents_skipped_no_pair" + counter_suffix)

    def process(self, element: Union[TokenizedBatch, Tuple[int, Iterable[str]]]
                ) -> Iterator[Union[List[PackedSequence], TaggedOutput]]:
        """A block or ``(bucket, its sorted runs)``."""
        config = self._config
        if isinstance(element, TokenizedBatch):
            self._packed.inc(len(element.ids))
            if config.packing == "sentences":
                yield from self._chunks(self._alone(element.documents()))
                return
            sequences, tail = pack_batch(element, config.max_seq_length, self._cls_id,
                                         self._sep_id, keep_tail=True)
            yield from self._chunks(sequences)
            if tail:
                yield TaggedOutput(_TAILS, [doc.encode() for doc in tail])
            return
        # Ids are unique within a split; were two equal, their tokens would order them.
        documents = (TokenizedDocument.decode(*item) for item in merge_runs(element[1]))
        if config.packing == "doc_pairs":
            yield from self._chunks(self._pairs(list(documents)), copies=False)
        else:
            yield from self._chunks(pack_full_sentences(
                documents, config.max_seq_length, self._cls_id, self._sep_id))

    def _chunks(self, sequences: Iterable[PackedSequence], copies: bool = True
                ) -> Iterator[List[PackedSequence]]:
        """``sequences`` (each in ``dupe_factor`` copies, unless made so) in lists."""
        if copies:
            sequences = (sequence._replace(key=sequence.key + (copy,)) for sequence in sequences
                         for copy in range(self._config.dupe_factor))
        while True:
            chunk = list(itertools.islice(sequences, PACKED_BATCH_SIZE))
            if not chunk:
                return
            yield chunk

    def _alone(self, documents: Iterator[TokenizedDocument]) -> Iterator[PackedSequence]:
        config = self._config
        for doc in documents:
            for chunk, tokens in enumerate(pack_document(
                    np.concatenate(doc.sentences), config.max_seq_length,
                    self._cls_id, self._sep_id)):
                yield PackedSequence((doc.id, chunk), tokens, np.zeros_like(tokens), 0)

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
    if eval_percent <= 0:
        return False
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < eval_percent
