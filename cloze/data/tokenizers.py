"""The data pipeline's tokenizer, chosen by ``VocabConfig.tokenizer``, and learning its files.

Each kind keeps its files in the vocabulary artifact directory under the names
Hugging Face uses, so the directory also reads as a tokenizer checkpoint:

=================  ==============================  ==========================================
``tokenizer``      files                           special tokens (cls, sep, mask, pad)
=================  ==============================  ==========================================
``wordpiece``      ``vocab.txt``                   ``[CLS] [SEP] [MASK] [PAD]``
``sentencepiece``  ``spiece.model``                ALBERT's ``[CLS] [SEP] [MASK] <pad>``
``byte_bpe``       ``vocab.json``, ``merges.txt``  RoBERTa's ``<s> </s> <mask> <pad>``
=================  ==============================  ==========================================

``load_tokenizer`` returns the model's own tokenizer layer, which training and
the exported SavedModel run in the graph. The Beam stage calls it through
``batch_token_ids``, which gives the same ids, for byte-level BPE faster.
``lower_case`` applies to WordPiece and SentencePiece; byte-level BPE is cased,
as RoBERTa is.
"""
import hashlib
import itertools
import os
from typing import Callable, Iterable, Iterator, List, Tuple, Union

import numpy as np
import tensorflow as tf

from cloze.config import SPECIAL_TOKENS, VocabConfig
from cloze.models.tokenizers.byte_pair_tokenizer import (ROBERTA_SPECIAL_TOKENS,
                                                         BytePairTokenizer, train_byte_pair)
from cloze.models.tokenizers.sentence_piece_tokenizer import (ALBERT_SPECIAL_TOKENS,
                                                              SentencePieceTokenizer,
                                                              train_sentence_piece)
from cloze.models.tokenizers.word_piece_tokenizer import WordPieceTokenizer

TOKENIZER_FILES = {"wordpiece": ("vocab.txt",), "sentencepiece": ("spiece.model",),
                   "byte_bpe": ("vocab.json", "merges.txt")}
# The most lines SentencePiece and byte-level BPE learn from: SentencePiece holds its
# input in memory (about 100 MB for a million lines of prose).
MAX_TRAINING_LINES = 1_000_000


def tokenizer_files(tokenizer_kind: str, path: str) -> List[str]:
    """The files of a ``tokenizer_kind`` tokenizer at ``path``, in ``TOKENIZER_FILES`` order.

    ``path`` is a directory holding them under their ``TOKENIZER_FILES``
    names, or the path of the first one (``vocab.txt``, ``spiece.model``,
    ``vocab.json``) under any name, the others beside it under theirs.

    Example:
    >>> tokenizer_files("byte_bpe", "/no/such/dir/roberta.json")
    ['/no/such/dir/roberta.json', '/no/such/dir/merges.txt']
    """
    names = TOKENIZER_FILES[tokenizer_kind]
    if tf.io.gfile.isdir(path):
        return [os.path.join(path, name) for name in names]
    return [path] + [os.path.join(os.path.dirname(path), name) for name in names[1:]]


def load_tokenizer(config: VocabConfig, path: str):
    """The tokenizer ``config.tokenizer`` names, over its files at ``path`` (``tokenizer_files``).

    The result has ``tokenize`` (``(batch,)`` strings to ragged int32 ids),
    ``cls_token_id``, ``sep_token_id``, ``mask_token_id``, ``pad_token_id``,
    ``special_token_ids()`` and ``vocabulary`` (the token of each id).

    Raises:
        FileNotFoundError: a file of ``TOKENIZER_FILES`` is missing; the message
            names the directory and the files.

    Example:
    >>> import tempfile
    >>> config = VocabConfig(vocab_size=300, tokenizer="byte_bpe")
    >>> vocab_dir = tempfile.mkdtemp()
    >>> _ = learn_tokenizer(config, ["low lower lowest"] * 10, vocab_dir)
    >>> tokenizer = load_tokenizer(config, vocab_dir)
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id
    (0, 2, 4)
    >>> tokenizer.detokenize(tokenizer.tokenize(["lower low"])).numpy().tolist()
    [b'lower low']
    """
    paths = _existing_files(config.tokenizer, path)
    if config.tokenizer == "wordpiece":
        return WordPieceTokenizer(paths[0], lowercase=config.lower_case)
    if config.tokenizer == "sentencepiece":
        return SentencePieceTokenizer(paths[0], layout="albert", lowercase=config.lower_case)
    return BytePairTokenizer(*paths)


def batch_token_ids(tokenizer) -> Callable[[List[str]], Tuple[np.ndarray, np.ndarray]]:
    """The data stage's tokenizer call: texts to (flat ids, row splits), ``tokenizer``'s ids.

    ``tokenizer`` is what ``load_tokenizer`` returns. A ``BytePairTokenizer``
    runs as Hugging Face ``tokenizers``' byte-level BPE over its vocabulary and
    merges: the same ids as the graph (``tests/models/test_tokenizer_parity.py``)
    at about four times its speed, on every core. The others run their graph.

    Example:
    >>> import tempfile
    >>> config = VocabConfig(vocab_size=300, tokenizer="byte_bpe")
    >>> vocab_dir = tempfile.mkdtemp()
    >>> _ = learn_tokenizer(config, ["low lower lowest"] * 10, vocab_dir)
    >>> ids, splits = batch_token_ids(load_tokenizer(config, vocab_dir))(["lower", "", "low"])
    >>> splits.tolist(), ids.tolist() == load_tokenizer(config, vocab_dir).tokenize(
    ...     ["lower", "", "low"]).flat_values.numpy().tolist()
    ([0, 3, 3, 4], True)
    """
    if isinstance(tokenizer, BytePairTokenizer):
        from tokenizers import ByteLevelBPETokenizer

        fast = ByteLevelBPETokenizer(
            {token: index for index, token in enumerate(tokenizer.vocabulary)},
            [tuple(merge.split(" ")) for merge in tokenizer.merges])

        def token_ids(texts: List[str]) -> Tuple[np.ndarray, np.ndarray]:
            rows = [encoding.ids for encoding in fast.encode_batch(texts)]
            splits = np.zeros(len(rows) + 1, np.int64)
            np.cumsum([len(row) for row in rows], out=splits[1:])
            return np.fromiter(itertools.chain.from_iterable(rows), np.int32, splits[-1]), splits
        return token_ids

    def graph_token_ids(texts: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        ids = tokenizer.tokenize(tf.constant(texts, tf.string))
        return ids.values.numpy(), ids.row_splits.numpy()
    return graph_token_ids


def _existing_files(tokenizer_kind: str, path: str) -> List[str]:
    """``tokenizer_files``, checked to exist (``FileNotFoundError`` naming the missing ones)."""
    paths = tokenizer_files(tokenizer_kind, path)
    missing = [file for file in paths if not tf.io.gfile.exists(file)]
    if missing:
        raise FileNotFoundError(f"vocab.tokenizer={tokenizer_kind!r} needs "
                                f"{', '.join(TOKENIZER_FILES[tokenizer_kind])} in "
                                f"{path}; missing: {', '.join(missing)}")
    return paths


def copy_tokenizer(tokenizer_kind: str, source: str, destination: str) -> List[str]:
    """Copies the tokenizer files at ``source`` to ``destination`` (both as ``tokenizer_files``).

    Returns the paths written.
    """
    written = tokenizer_files(tokenizer_kind, destination)
    tf.io.gfile.makedirs(os.path.dirname(written[0]))
    for source_file, destination_file in zip(tokenizer_files(tokenizer_kind, source), written):
        tf.io.gfile.copy(source_file, destination_file, overwrite=True)
    return written


def tokenizer_sha256(tokenizer_kind: str, path: str) -> str:
    """sha256 of the tokenizer files at ``path``, read one after the other.

    For WordPiece, the sha256 of ``vocab.txt``.
    """
    digest = hashlib.sha256()
    for file in _existing_files(tokenizer_kind, path):
        with tf.io.gfile.GFile(file, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def word_continuations(tokenizer_kind: str, vocabulary: List[str]) -> np.ndarray:
    """Per id, whether the token continues a word (for whole-word masking).

    WordPiece marks a continuation with ``##``; SentencePiece marks a word
    start with ``▁`` and byte-level BPE a word after a space with ``Ġ``, so
    there a continuation is a token without the mark. Special tokens are
    never continuations. A BPE word at the very start of a text has no ``Ġ``
    and so counts as continuing the one before it.

    Example:
    >>> word_continuations("sentencepiece", ["<pad>", "▁the", "re", "[MASK]"]).tolist()
    [False, False, True, False]
    """
    specials = {"wordpiece": set(SPECIAL_TOKENS),
                "sentencepiece": set(ALBERT_SPECIAL_TOKENS.values()),
                "byte_bpe": set(ROBERTA_SPECIAL_TOKENS.values())}[tokenizer_kind]
    if tokenizer_kind == "wordpiece":
        continues = [token.startswith("##") for token in vocabulary]
    else:
        mark = "▁" if tokenizer_kind == "sentencepiece" else "Ġ"
        continues = [not token.startswith(mark) for token in vocabulary]
    return np.array([c and token not in specials for c, token in zip(continues, vocabulary)])


def learn_tokenizer(config: VocabConfig, texts: Union[str, Iterable[str]],
                    out_dir: str) -> List[str]:
    """Learns a SentencePiece or byte-level BPE model of ``config.vocab_size`` tokens.

    Args:
        config: ``tokenizer`` must be ``"sentencepiece"`` or ``"byte_bpe"``
            (WordPiece is learned in Beam by ``wordpiece.LearnVocabulary``).
        texts: an iterable of texts, or the path of a text file (one text a line).
        out_dir: where the files of ``TOKENIZER_FILES`` are written.

    Returns:
        the paths written.

    Example:
    >>> import tempfile
    >>> config = VocabConfig(vocab_size=40, tokenizer="sentencepiece")
    >>> paths = learn_tokenizer(config, ["The cat sat on the mat."] * 20, tempfile.mkdtemp())
    >>> [os.path.basename(path) for path in paths]
    ['spiece.model']
    """
    if config.tokenizer == "wordpiece":
        raise ValueError("learn_tokenizer: vocab.tokenizer='wordpiece' is learned in Beam by "
                         "cloze.data.wordpiece.LearnVocabulary; pass 'sentencepiece' or "
                         "'byte_bpe'.")
    lines = _read_lines(texts) if isinstance(texts, str) else iter(texts)
    tf.io.gfile.makedirs(out_dir)
    if config.tokenizer == "byte_bpe":
        return list(train_byte_pair(lines, config.vocab_size, out_dir))
    if config.lower_case:
        lines = (line.lower() for line in lines)
    path = os.path.join(out_dir, TOKENIZER_FILES["sentencepiece"][0])
    # SentencePiece's trainer refuses empty sentences.
    proto = train_sentence_piece((line for line in lines if line.strip()), config.vocab_size,
                                 layout="albert", input_sentence_size=MAX_TRAINING_LINES)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(proto)
    return [path]


def _read_lines(path: str) -> Iterator[str]:
    with tf.io.gfile.GFile(path, "r") as f:
        for line in f:
            yield line.rstrip("\n")
