"""The three packing schemes: sentences, full_sentences (RoBERTa) and doc_pairs (BERT, ALBERT)."""
import numpy as np
import pytest

from cloze.data import packing
from cloze.data.packing import (TokenizedBatch, TokenizedDocument, pack_batch, pack_document,
                                pack_full_sentences, pair_sequences)

CLS, SEP = 2, 3


def random_documents(count, rng, max_sentences=6, max_sentence_length=12, first_id=100):
    """Documents of random sentences whose token ids are all distinct, so they can be traced."""
    documents, next_id = [], first_id
    for number in range(count):
        sentences = []
        for _ in range(rng.integers(1, max_sentences + 1)):
            length = int(rng.integers(1, max_sentence_length + 1))
            sentences.append(np.arange(next_id, next_id + length))
            next_id += length
        documents.append(TokenizedDocument(f"d{number:03d}", sentences))
    return documents


def test_sentences_packing_keeps_every_token_in_order_within_the_length():
    for length in range(0, 25):
        tokens = np.arange(100, 100 + length)

        sequences = pack_document(tokens, max_seq_length=8, cls_id=CLS, sep_id=SEP)

        assert all(len(s) <= 8 and s[0] == CLS and s[-1] == SEP for s in sequences)
        assert all(len(s) == 8 for s in sequences[:-1])
        kept = np.concatenate([s[1:-1] for s in sequences]) if sequences else np.array([])
        np.testing.assert_array_equal(kept, tokens)


def test_sentences_packing_of_an_empty_document_gives_no_sequence():
    assert pack_document(np.array([], dtype=np.int64), 8, CLS, SEP) == []


@pytest.mark.parametrize("max_seq_length", [8, 16, 40])
def test_full_sentences_drops_no_token_and_separates_documents_with_sep(max_seq_length):
    documents = random_documents(30, np.random.default_rng(max_seq_length))

    sequences = list(pack_full_sentences(documents, max_seq_length, CLS, SEP))

    assert all(len(s.token_ids) <= max_seq_length for s in sequences)
    assert all(s.token_ids[0] == CLS and s.token_ids[-1] == SEP for s in sequences)
    inner = np.concatenate([s.token_ids[1:-1] for s in sequences])
    expected = np.concatenate([np.concatenate(d.sentences) for d in documents])
    np.testing.assert_array_equal(inner[inner != SEP], expected)
    # One [SEP] at each document boundary that falls inside a sequence, none elsewhere.
    boundaries = sum(int(np.sum(s.token_ids[1:-1] == SEP)) for s in sequences)
    assert boundaries == len(documents) - 1 - sum(
        1 for s in sequences[1:] if s.key[1] == 0)


def test_full_sentences_does_not_cut_a_sentence_that_fits():
    documents = random_documents(40, np.random.default_rng(7), max_sentence_length=6)
    sentence_of = {int(t): (d.id, i) for d in documents for i, s in enumerate(d.sentences)
                   for t in s}

    sequences = list(pack_full_sentences(documents, 16, CLS, SEP))

    seen = set()
    for s in sequences:
        here = {sentence_of[int(t)] for t in s.token_ids if int(t) in sentence_of}
        assert not here & seen  # a sentence never continues into the next sequence
        seen |= here


def test_full_sentences_fills_sequences_to_near_the_length():
    documents = random_documents(60, np.random.default_rng(3), max_sentence_length=5)

    sequences = list(pack_full_sentences(documents, 32, CLS, SEP))

    # A sequence closes only when the next sentence (<= 5 tokens, + [SEP]) does not fit.
    assert all(len(s.token_ids) > 32 - 6 for s in sequences[:-1])


def test_full_sentences_cuts_a_sentence_longer_than_a_sequence():
    documents = [TokenizedDocument("a", [np.arange(100, 120)])]

    sequences = [s.token_ids.tolist() for s in pack_full_sentences(documents, 10, CLS, SEP)]

    assert sequences == [[CLS, *range(100, 108), SEP], [CLS, *range(108, 116), SEP],
                         [CLS, *range(116, 120), SEP]]


def test_full_sentences_keys_name_the_first_document_and_token_offset():
    documents = [TokenizedDocument("a", [np.arange(100, 106)]),
                 TokenizedDocument("b", [np.arange(200, 203), np.arange(203, 209)])]

    keys = [s.key for s in pack_full_sentences(documents, 12, CLS, SEP)]

    assert keys == [("a", 0), ("b", 3)]


def greedy_full_sentences(documents, max_seq_length):
    """A plain reference of FULL-SENTENCES: (key, token list) of each sequence."""
    capacity, sequences, open_tokens, key = max_seq_length - 2, [], [], None
    for doc in documents:
        separator_due, offset = bool(open_tokens), doc.offset
        for sentence in doc.sentences:
            sentence = list(sentence)
            for start in range(0, len(sentence), capacity):
                piece = sentence[start:start + capacity]
                if len(open_tokens) + separator_due + len(piece) > capacity:
                    sequences.append((key, [CLS, *open_tokens, SEP]))
                    open_tokens, separator_due = [], False
                if separator_due:
                    open_tokens.append(SEP)
                    separator_due = False
                if not open_tokens:
                    key = (doc.id, offset)
                open_tokens += piece
                offset += len(piece)
    if open_tokens:
        sequences.append((key, [CLS, *open_tokens, SEP]))
    return sequences


@pytest.mark.parametrize("chunk", [1, 3, 1024])
@pytest.mark.parametrize("max_seq_length", [8, 13, 64])
def test_full_sentences_packs_as_the_plain_greedy_rule_whatever_the_chunk(
        monkeypatch, chunk, max_seq_length):
    documents = random_documents(80, np.random.default_rng(chunk + max_seq_length),
                                 max_sentence_length=30)
    monkeypatch.setattr(packing, "PACK_CHUNK", chunk)

    sequences = [(s.key, s.token_ids.tolist())
                 for s in pack_full_sentences(documents, max_seq_length, CLS, SEP)]

    assert sequences == greedy_full_sentences(documents, max_seq_length)


def test_a_batch_packed_with_its_tail_kept_hands_back_exactly_the_open_sequence():
    documents = random_documents(25, np.random.default_rng(11), max_sentence_length=20)
    expected = greedy_full_sentences(documents, 24)

    sequences, tail = pack_batch(TokenizedBatch.from_documents(documents), 24, CLS, SEP,
                                 keep_tail=True)

    assert [(s.key, s.token_ids.tolist()) for s in sequences] == expected[:-1]
    assert greedy_full_sentences(tail, 24) == expected[-1:]
    assert tail[0].offset > 0 or tail[0].id != documents[0].id  # a rest keeps its offset
    assert all(np.all(s.segment_ids == 0) for s in sequences)


def pairs_of(documents, max_seq_length, pair_task="next_sentence", short_seq_prob=0.0, seed=0):
    return [pair for index in range(len(documents))
            for pair in pair_sequences(documents, index, np.random.default_rng([seed, index]),
                                       max_seq_length, short_seq_prob, pair_task, CLS, SEP)]


def split_pair(pair):
    """(A, B) of a ``[CLS] A [SEP] B [SEP]`` pair, checking the layout and segment ids."""
    ids, segments = pair.token_ids, pair.segment_ids
    assert ids[0] == CLS and ids[-1] == SEP
    a_end = int(np.flatnonzero(segments == 1)[0]) - 1
    assert ids[a_end] == SEP and np.all(segments[:a_end + 1] == 0)
    assert np.all(segments[a_end + 1:] == 1)
    return ids[1:a_end], ids[a_end + 1:-1]


def test_doc_pairs_have_two_non_empty_segments_within_the_length():
    documents = random_documents(40, np.random.default_rng(1))

    for pair in pairs_of(documents, 24):
        a, b = split_pair(pair)
        assert len(a) >= 1 and len(b) >= 1 and len(pair.token_ids) <= 24


def test_next_sentence_label_is_one_exactly_when_b_comes_from_another_document():
    documents = random_documents(60, np.random.default_rng(2))
    owner = {int(t): d.id for d in documents for s in d.sentences for t in s}

    pairs = pairs_of(documents, 32)

    for pair in pairs:
        a, b = split_pair(pair)
        from_other = owner[int(b[0])] != pair.key[0]
        assert from_other == bool(pair.next_sentence_label)
        assert {owner[int(t)] for t in a} == {pair.key[0]}
    assert 0.35 < np.mean([p.next_sentence_label for p in pairs]) < 0.75


def test_sentence_order_label_is_one_exactly_when_a_and_b_are_swapped():
    documents = random_documents(60, np.random.default_rng(4))

    pairs = pairs_of(documents, 32, pair_task="sentence_order")

    for pair in pairs:
        a, b = split_pair(pair)
        # Token ids rise through a document, so B before A means swapped.
        assert bool(pair.next_sentence_label) == (b[-1] < a[0])
        assert a[-1] < b[0] or b[-1] < a[0]
    assert 0.35 < np.mean([p.next_sentence_label for p in pairs]) < 0.65


def test_short_seq_prob_makes_shorter_pairs():
    documents = random_documents(60, np.random.default_rng(5), max_sentences=20)

    full = np.mean([len(p.token_ids) for p in pairs_of(documents, 64)])
    short = np.mean([len(p.token_ids) for p in pairs_of(documents, 64, short_seq_prob=1.0)])

    assert short < 0.8 * full


def test_a_lone_one_token_document_cannot_pair():
    documents = [TokenizedDocument("a", [np.array([100])])]

    assert pairs_of(documents, 16) == []
    assert pairs_of(documents, 16, pair_task="sentence_order") == []


def test_a_lone_sentence_is_cut_in_two_when_there_is_no_other_document():
    documents = [TokenizedDocument("a", [np.arange(100, 110)])]

    (pair,) = pairs_of(documents, 16)

    a, b = split_pair(pair)
    np.testing.assert_array_equal(np.concatenate([a, b]), np.arange(100, 110))
    assert pair.next_sentence_label == 0
