"""Packing tokenized documents into model sequences, with BERT's and RoBERTa's schemes.

Three schemes (``DataConfig.packing``), pure numpy, given documents already
split into sentences and tokenized:

* ``sentences`` (``pack_document``): one document per sequence,
  ``[CLS] chunk [SEP]``, a long document split into consecutive chunks.
* ``full_sentences`` (``pack_full_sentences``, RoBERTa's FULL-SENTENCES):
  whole sentences taken in order, crossing from one document into the next
  with a ``[SEP]`` between them, until the next sentence would not fit.
  ``pack_batch`` packs a batch of documents at once and can hand back its
  unfinished last sequence as documents, to be packed on with others.
* ``doc_pairs`` (``pair_sequences``, BERT's ``create_instances_from_document``):
  ``[CLS] A [SEP] B [SEP]`` with ``segment_ids`` 1 on B and a pair label,
  next-sentence (BERT) or sentence-order (ALBERT); in RoBERTa's layout
  ``<s> A </s></s> B </s>`` with ``segment_ids`` 0 throughout.

``cls_id`` and ``sep_id`` are the tokenizer's (``[CLS]``/``[SEP]``, ``<s>``/``</s>``).

Every sequence carries a ``key`` (``str`` and ``int`` parts) that names where
it starts; the masking stage seeds its random choices from it, and the writer
orders by it, so the output does not depend on how Beam batches the work.
"""
from __future__ import annotations

import itertools
import struct
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

# Encoded documents (TokenizedBatch.encoded_documents): little-endian int32 throughout,
# a header of the sentence count and the first token's offset.
_ENCODED_INT = np.dtype("<i4")
_ENCODED_HEADER = struct.Struct("<ii")


class TokenizedDocument(NamedTuple):
    """A document's id and its sentences as token-id arrays (none of them empty).

    ``offset`` is the offset of its first token in the document it comes
    from: 0, but for the rest of a document that packing began elsewhere
    (``pack_batch``).

    Example:
    >>> TokenizedDocument("a.txt:1", [np.array([5, 6]), np.array([7])]).id
    'a.txt:1'
    """

    id: str
    sentences: List[np.ndarray]
    offset: int = 0

    @classmethod
    def decode(cls, key: bytes, payload: bytes) -> "TokenizedDocument":
        """The document of an item of ``TokenizedBatch.encoded_documents``; int64 sentences.

        Example:
        >>> batch = TokenizedBatch.from_documents(
        ...     [TokenizedDocument("a.txt:1", [np.array([5, 6]), np.array([7])])])
        >>> doc = TokenizedDocument.decode(*next(batch.encoded_documents()))
        >>> doc.id, [s.tolist() for s in doc.sentences]
        ('a.txt:1', [[5, 6], [7]])
        """
        # struct and slices rather than numpy calls: a bucket decodes documents one at a time.
        count, offset = _ENCODED_HEADER.unpack_from(payload)
        ends = list(itertools.accumulate(
            struct.unpack_from(f"<{count}i", payload, _ENCODED_HEADER.size)))
        tokens = np.frombuffer(payload, _ENCODED_INT,
                               offset=_ENCODED_HEADER.size + 4 * count).astype(np.int64)
        return cls(key.decode("utf-8", "surrogatepass"),
                   [tokens[start:end] for start, end in zip([0, *ends], ends)], offset)

    def encode(self) -> Tuple[bytes, bytes]:
        """``(id, sentences)`` bytes, as ``TokenizedBatch.encoded_documents`` gives them."""
        lengths = [len(sentence) for sentence in self.sentences]
        return (self.id.encode("utf-8", "surrogatepass"),
                _ENCODED_HEADER.pack(len(lengths), self.offset)
                + np.asarray(lengths, _ENCODED_INT).tobytes()
                + np.concatenate(self.sentences).astype(_ENCODED_INT).tobytes())


class TokenizedBatch(NamedTuple):
    """Tokenized documents in flat arrays, cheap to pass between Beam stages.

    Attributes:
        ids: the document ids, in order.
        token_ids: every token of every document, int32.
        sentence_splits: row splits of ``token_ids`` into sentences (none empty).
        document_splits: row splits of the sentences into documents (none empty).
        offsets: each document's ``TokenizedDocument.offset``; None for all 0.

    Example:
    >>> batch = TokenizedBatch.from_documents([
    ...     TokenizedDocument("a", [np.array([5, 6]), np.array([7])]),
    ...     TokenizedDocument("b", [np.array([8])])])
    >>> [(d.id, [s.tolist() for s in d.sentences]) for d in batch.documents()]
    [('a', [[5, 6], [7]]), ('b', [[8]])]
    """

    ids: List[str]
    token_ids: np.ndarray
    sentence_splits: np.ndarray
    document_splits: np.ndarray
    offsets: Optional[List[int]] = None

    @classmethod
    def from_lengths(cls, ids: List[str], token_ids: np.ndarray, sentence_lengths: np.ndarray,
                     sentences_per_document: np.ndarray) -> "TokenizedBatch":
        """The batch of ``ids`` whose sentences have ``sentence_lengths`` tokens, in order."""
        return cls(ids, np.asarray(token_ids, dtype=np.int32), _splits(sentence_lengths),
                   _splits(sentences_per_document))

    @classmethod
    def from_documents(cls, documents: Sequence[TokenizedDocument]) -> "TokenizedBatch":
        """The batch of ``documents`` (each with at least one non-empty sentence)."""
        sentences = [np.asarray(s) for doc in documents for s in doc.sentences]
        return cls.from_lengths([doc.id for doc in documents],
                                np.concatenate(sentences or [np.zeros(0)]),
                                [len(s) for s in sentences],
                                [len(doc.sentences) for doc in documents])._replace(
                                    offsets=[doc.offset for doc in documents])

    def offset(self, number: int) -> int:
        """The offset of document ``number`` (see ``TokenizedDocument.offset``)."""
        return self.offsets[number] if self.offsets else 0

    def documents(self) -> Iterator[TokenizedDocument]:
        """The documents, in order, with views of ``token_ids`` as sentences."""
        tokens = self.token_ids.astype(np.int64)
        ends = self.sentence_splits
        for number, doc_id in enumerate(self.ids):
            first, last = self.document_splits[number], self.document_splits[number + 1]
            yield TokenizedDocument(doc_id, [tokens[ends[i]:ends[i + 1]]
                                             for i in range(first, last)], self.offset(number))

    def encoded_documents(self) -> Iterator[Tuple[bytes, bytes]]:
        """Each document as ``(id, sentences)`` bytes, in order, for ``TokenizedDocument.decode``.

        The id is UTF-8 (whose byte order is the ids' order, so items sort by
        id, e.g. in ``sorted_runs``); the sentences are little-endian int32:
        their count, the offset, their lengths, then their tokens.
        """
        # Slices of two bytes objects rather than numpy calls per document.
        lengths = np.diff(self.sentence_splits).astype(_ENCODED_INT).tobytes()
        tokens = self.token_ids.astype(_ENCODED_INT, copy=False).tobytes()
        sentence_splits = self.sentence_splits.tolist()
        document_splits = self.document_splits.tolist()
        for number, doc_id in enumerate(self.ids):
            first, last = document_splits[number], document_splits[number + 1]
            yield (doc_id.encode("utf-8", "surrogatepass"),
                   _ENCODED_HEADER.pack(last - first, self.offset(number))
                   + lengths[4 * first:4 * last]
                   + tokens[4 * sentence_splits[first]:4 * sentence_splits[last]])


def _splits(lengths: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


class PackedSequence(NamedTuple):
    """One model sequence before masking.

    Attributes:
        key: where the sequence comes from, e.g. ``(document id, token offset,
            copy)``; unique within a split.
        token_ids: ``[CLS] ... [SEP]``, int64, not padded.
        segment_ids: 0 on segment A (and ``[CLS]``), 1 on segment B (0 on
            both in RoBERTa's pair layout).
        next_sentence_label: the pair label of ``doc_pairs``, else 0.

    Example:
    >>> s = PackedSequence(("a.txt:1", 0, 0), np.array([2, 5, 3]), np.zeros(3, np.int64), 0)
    >>> s.key
    ('a.txt:1', 0, 0)
    """

    key: Tuple
    token_ids: np.ndarray
    segment_ids: np.ndarray
    next_sentence_label: int


def pack_document(token_ids: np.ndarray, max_seq_length: int, cls_id: int, sep_id: int
                  ) -> list[np.ndarray]:
    """Splits a document's tokens into ``[CLS] chunk [SEP]`` sequences, ``max_seq_length`` at most.

    One document per sequence (``packing="sentences"``), a long document split
    into consecutive chunks of ``max_seq_length - 2`` tokens, the last one
    possibly shorter. No token is dropped and nothing is padded.

    Example:
    >>> [s.tolist() for s in pack_document(np.arange(10, 17), max_seq_length=6, cls_id=2, sep_id=3)]
    [[2, 10, 11, 12, 13, 3], [2, 14, 15, 16, 3]]
    >>> pack_document(np.array([], dtype=np.int64), 6, 2, 3)
    []
    """
    token_ids = np.asarray(token_ids, dtype=np.int64)
    return [np.concatenate([[cls_id], chunk, [sep_id]])
            for chunk in _pieces(token_ids, max_seq_length - 2)]


def _pieces(token_ids: np.ndarray, capacity: int) -> list[np.ndarray]:
    """``token_ids`` cut into consecutive pieces of at most ``capacity`` tokens."""
    return [token_ids[start:start + capacity] for start in range(0, len(token_ids), capacity)]


def pack_full_sentences(documents: Iterable[TokenizedDocument], max_seq_length: int,
                        cls_id: int, sep_id: int) -> Iterator[PackedSequence]:
    """RoBERTa's FULL-SENTENCES packing of ``documents``, in the order given, read once.

    Sentences are added whole while they fit in ``max_seq_length - 2``; a
    document that follows another in the same sequence is preceded by
    ``[SEP]``. A sentence longer than a whole sequence is cut into pieces. No
    token is dropped; only the last sequence may be short. The key of a
    sequence is ``(id of its first document, offset of its first token there)``.
    Documents are packed ``PACK_CHUNK`` at a time by ``pack_batch``, each
    chunk's open sequence carried into the next, which packs as one stream.

    Example:
    >>> docs = [TokenizedDocument("a", [np.array([10, 11]), np.array([12])]),
    ...         TokenizedDocument("b", [np.array([20, 21, 22])])]
    >>> for s in pack_full_sentences(docs, max_seq_length=7, cls_id=2, sep_id=3):
    ...     print(s.key, s.token_ids.tolist())
    ('a', 0) [2, 10, 11, 12, 3]
    ('b', 0) [2, 20, 21, 22, 3]
    >>> for s in pack_full_sentences(docs, max_seq_length=9, cls_id=2, sep_id=3):
    ...     print(s.key, s.token_ids.tolist())
    ('a', 0) [2, 10, 11, 12, 3, 20, 21, 22, 3]
    """
    documents = iter(documents)
    tail: List[TokenizedDocument] = []
    while True:
        chunk = list(itertools.islice(documents, PACK_CHUNK))
        sequences, tail = pack_batch(TokenizedBatch.from_documents(tail + chunk),
                                     max_seq_length, cls_id, sep_id, keep_tail=bool(chunk))
        yield from sequences
        if not chunk:
            return


# Documents per pack_batch call when pack_full_sentences packs a stream.
PACK_CHUNK = 1024


def pack_batch(batch: TokenizedBatch, max_seq_length: int, cls_id: int, sep_id: int,
               keep_tail: bool) -> Tuple[List[PackedSequence], List[TokenizedDocument]]:
    """``pack_full_sentences`` of a batch's documents: (sequences, tail).

    With ``keep_tail``, the last sequence, if unfinished, is not made: what it
    would hold comes back as documents (the rest of a document that began in
    an earlier sequence has its ``offset``), to be packed again ahead of
    others; else the tail is empty. The choices are made sentence by sentence
    in Python; the tokens are gathered by numpy.

    Example:
    >>> batch = TokenizedBatch.from_documents(
    ...     [TokenizedDocument("a", [np.array([10, 11, 12]), np.array([13, 14])])])
    >>> sequences, tail = pack_batch(batch, 6, cls_id=2, sep_id=3, keep_tail=True)
    >>> [s.token_ids.tolist() for s in sequences]
    [[2, 10, 11, 12, 3]]
    >>> [(d.id, d.offset, [s.tolist() for s in d.sentences]) for d in tail]
    [('a', 3, [[13, 14]])]
    """
    capacity = max_seq_length - 2
    sentence_splits = batch.sentence_splits.tolist()
    document_splits = batch.document_splits.tolist()
    # Segments: runs of source tokens, in order; a sequence is [CLS] its segments [SEP].
    starts: List[int] = []
    lengths: List[int] = []
    documents: List[int] = []  # the document of each segment, -1 for a separator
    offsets: List[int] = []  # the offset in its document of each segment's first token
    first_segment: List[int] = []  # of each sequence
    keys: List[Tuple] = []
    length = 0  # tokens in the open sequence
    for number in range(len(batch.ids)):
        separator_due = length > 0
        offset = batch.offset(number)
        for sentence in range(document_splits[number], document_splits[number + 1]):
            start, end = sentence_splits[sentence], sentence_splits[sentence + 1]
            while start < end:
                size = min(capacity, end - start)
                if length + separator_due + size > capacity:
                    length, separator_due = 0, False
                if separator_due:
                    starts.append(-1)
                    lengths.append(1)
                    documents.append(-1)
                    offsets.append(0)
                    length += 1
                    separator_due = False
                if not length:
                    first_segment.append(len(starts))
                    keys.append((batch.ids[number], offset))
                starts.append(start)
                lengths.append(size)
                documents.append(number)
                offsets.append(offset)
                length += size
                offset += size
                start += size
    tail: List[TokenizedDocument] = []
    if keep_tail and length:
        cut = first_segment.pop()
        keys.pop()
        tail = _as_documents(batch, starts[cut:], lengths[cut:], documents[cut:], offsets[cut:])
        del starts[cut:], lengths[cut:]
    return _gathered(batch.token_ids, starts, lengths, first_segment, keys, cls_id,
                     sep_id), tail


def _as_documents(batch: TokenizedBatch, starts: List[int], lengths: List[int],
                  documents: List[int], offsets: List[int]) -> List[TokenizedDocument]:
    """The segments of an open sequence as the documents (or rests of them) they are."""
    result: List[TokenizedDocument] = []
    for start, size, number, offset in zip(starts, lengths, documents, offsets):
        if number < 0:
            continue
        if not result or result[-1].id != batch.ids[number]:
            result.append(TokenizedDocument(batch.ids[number], [], offset))
        result[-1].sentences.append(batch.token_ids[start:start + size].astype(np.int64))
    return result


def _gathered(token_ids: np.ndarray, starts: List[int], lengths: List[int],
              first_segment: List[int], keys: List[Tuple], cls_id: int, sep_id: int
              ) -> List[PackedSequence]:
    """The sequences ``[CLS] segments [SEP]``, gathered from ``token_ids`` in one numpy call."""
    if not keys:
        return []
    # The source: the tokens, then [SEP] and [CLS]; separator segments point at [SEP].
    separator, cls = len(token_ids), len(token_ids) + 1
    source = np.concatenate([token_ids.astype(np.int64), [sep_id, cls_id]])
    starts_array = np.array(starts, np.int64)
    starts_array[starts_array < 0] = separator
    lengths_array = np.array(lengths, np.int64)
    # Each sequence gains [CLS] before its first segment and [SEP] after its last.
    boundaries = np.array(first_segment + [len(starts)], np.int64)
    per_sequence = np.add.reduceat(lengths_array, boundaries[:-1]) + 2
    segment_starts = np.insert(np.insert(starts_array, boundaries[1:], separator),
                               boundaries[:-1] + np.arange(len(keys)), cls)
    segment_lengths = np.insert(np.insert(lengths_array, boundaries[1:], 1),
                                boundaries[:-1] + np.arange(len(keys)), 1)
    ends = np.cumsum(segment_lengths)
    within = np.arange(ends[-1]) - np.repeat(ends - segment_lengths, segment_lengths)
    tokens = source[np.repeat(segment_starts, segment_lengths) + within]
    zeros = np.zeros(int(per_sequence.max()), np.int64)
    sequence_ends = np.cumsum(per_sequence).tolist()
    return [PackedSequence(key, tokens[end - size:end], zeros[:size], 0)
            for key, end, size in zip(keys, sequence_ends, per_sequence.tolist())]


def pair_sequences(documents: Sequence[TokenizedDocument], index: int, rng: np.random.Generator,
                   max_seq_length: int, short_seq_prob: float, pair_task: str,
                   cls_id: int, sep_id: int, pair_layout: str = "bert") -> list[PackedSequence]:
    """BERT's segment pairs from ``documents[index]``; the others supply random segments B.

    As ``create_instances_from_document`` in google-research/bert: a target
    length of ``max_seq_length - 3`` (or, with probability ``short_seq_prob``,
    a random shorter one) is filled with whole sentences; a random prefix of
    them is A. With ``pair_task="next_sentence"``, half the time (always, when
    there is one sentence) B is a random span of another document and the
    label is 1; otherwise B is the rest and the label 0. With
    ``"sentence_order"`` (ALBERT), B is always the real continuation and half
    the time A and B are swapped, label 1. A lone sentence with no other
    document to draw from (or under ``sentence_order``) is cut in two at a
    random token. The pair is trimmed to fit, a token at a time from the front
    or back of the longer segment, as BERT. Keys are ``(document id, pair
    number)``. ``pair_layout="roberta"`` packs ``cls A sep sep B sep`` with
    segment ids 0 (one token more of overhead, so one less for A and B).

    Example:
    >>> docs = [TokenizedDocument("a", [np.array([10, 11]), np.array([12, 13])]),
    ...         TokenizedDocument("b", [np.array([20, 21, 22])])]
    >>> pairs = pair_sequences(docs, 0, np.random.default_rng(0), max_seq_length=16,
    ...                        short_seq_prob=0.0, pair_task="sentence_order", cls_id=2, sep_id=3)
    >>> [(p.token_ids.tolist(), p.segment_ids.tolist(), p.next_sentence_label) for p in pairs]
    [([2, 12, 13, 3, 10, 11, 3], [0, 0, 0, 0, 1, 1, 1], 1)]
    """
    max_tokens = max_seq_length - (4 if pair_layout == "roberta" else 3)
    segments = [piece for sentence in documents[index].sentences
                for piece in _pieces(np.asarray(sentence, dtype=np.int64), max_tokens)]
    others = [i for i in range(len(documents)) if i != index and documents[i].sentences]
    target = max_tokens
    if rng.random() < short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1))
    pairs: list[PackedSequence] = []
    chunk: list[np.ndarray] = []
    i = 0
    while i < len(segments):
        chunk.append(segments[i])
        if i == len(segments) - 1 or sum(map(len, chunk)) >= target:
            a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
            pair = _pair(chunk, a_end, documents, others, target, pair_task, rng)
            if pair is not None:
                tokens_a, tokens_b, label, unused = pair
                i -= unused
                tokens_a, tokens_b = _truncate_pair(tokens_a, tokens_b, max_tokens, rng)
                pairs.append(_two_segments((documents[index].id, len(pairs)), tokens_a,
                                           tokens_b, label, cls_id, sep_id, pair_layout))
            chunk = []
        i += 1
    return pairs


def _pair(chunk: Sequence[np.ndarray], a_end: int, documents: Sequence[TokenizedDocument],
          others: Sequence[int], target: int, pair_task: str, rng: np.random.Generator
          ) -> Optional[Tuple[np.ndarray, np.ndarray, int, int]]:
    """(A, B, label, segments of ``chunk`` left unused) of one chunk, or None if it cannot pair."""
    if len(chunk) == 1 and (pair_task == "sentence_order" or not others):
        # Nothing to draw B from: cut the lone segment in two, a real continuation.
        (tokens,) = chunk
        if len(tokens) < 2:
            return None
        cut = int(rng.integers(1, len(tokens)))
        tokens_a, tokens_b = tokens[:cut], tokens[cut:]
    elif pair_task == "next_sentence" and others and (len(chunk) == 1 or rng.random() < 0.5):
        tokens_a = np.concatenate(chunk[:a_end])
        other = documents[others[int(rng.integers(len(others)))]].sentences
        start = int(rng.integers(len(other)))
        taken, length = [], 0
        for sentence in other[start:]:
            taken.append(sentence)
            length += len(sentence)
            if length >= target - len(tokens_a):
                break
        # The unused segments of this document go back to be read again, as BERT.
        return tokens_a, np.concatenate(taken), 1, len(chunk) - a_end
    else:
        tokens_a, tokens_b = np.concatenate(chunk[:a_end]), np.concatenate(chunk[a_end:])
    if pair_task == "sentence_order" and rng.random() < 0.5:
        return tokens_b, tokens_a, 1, 0
    return tokens_a, tokens_b, 0, 0


def _truncate_pair(tokens_a: np.ndarray, tokens_b: np.ndarray, max_tokens: int,
                   rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Trims the longer segment, a token at a random end at a time, until both fit."""
    bounds = [[0, len(tokens_a)], [0, len(tokens_b)]]
    while sum(end - start for start, end in bounds) > max_tokens:
        longer = bounds[0] if bounds[0][1] - bounds[0][0] > bounds[1][1] - bounds[1][0] \
            else bounds[1]
        if rng.random() < 0.5:
            longer[0] += 1
        else:
            longer[1] -= 1
    return tokens_a[bounds[0][0]:bounds[0][1]], tokens_b[bounds[1][0]:bounds[1][1]]


def _two_segments(key: Tuple, tokens_a: np.ndarray, tokens_b: np.ndarray, label: int,
                  cls_id: int, sep_id: int, pair_layout: str) -> PackedSequence:
    if pair_layout == "roberta":
        token_ids = np.concatenate([[cls_id], tokens_a, [sep_id, sep_id], tokens_b, [sep_id]])
        return PackedSequence(key, token_ids.astype(np.int64),
                              np.zeros(len(token_ids), np.int64), label)
    token_ids = np.concatenate([[cls_id], tokens_a, [sep_id], tokens_b, [sep_id]])
    segment_ids = np.concatenate([np.zeros(len(tokens_a) + 2, np.int64),
                                  np.ones(len(tokens_b) + 1, np.int64)])
    return PackedSequence(key, token_ids.astype(np.int64), segment_ids, label)
