"""What the WordPiece, SentencePiece and byte-level BPE tokenizers share: a vocabulary,
special tokens by role, and how pairs are packed."""
import keras
import tensorflow as tf

SPECIAL_ROLES = ("pad", "unk", "cls", "sep", "mask")
PAIR_LAYOUTS = ("bert", "roberta")


def _special_token_id(role: str) -> property:
    return property(lambda self: self.token_to_id(self.special_tokens[role]),
                    doc=f"The id of the {role} token.")


class VocabularyTokenizer(keras.layers.Layer):
    """A text-to-ids layer whose vocabulary is a list of tokens, ids being positions in it.

    Subclasses load their model files, then call ``set_vocabulary`` with the
    token list and the token of each special role (``pad unk cls sep mask``),
    and implement ``tokenize`` and ``detokenize`` with TensorFlow ops.

    Args:
        pair_layout: set by the subclass from its model family; how a
            preprocessor packs two segments: ``"bert"`` (``cls A sep B sep``,
            segment ids 0 and 1) or ``"roberta"``
            (``cls A sep sep B sep``, all segment ids 0).

    Example:
    >>> tokenizer = VocabularyTokenizer()
    >>> tokenizer.set_vocabulary(["<pad>", "<unk>", "<s>", "</s>", "<mask>", "hi"],
    ...                          {"pad": "<pad>", "unk": "<unk>", "cls": "<s>",
    ...                           "sep": "</s>", "mask": "<mask>"})
    >>> tokenizer.mask_token_id, tokenizer.id_to_token(5), tokenizer.special_token_ids()
    (4, 'hi', [0, 1, 2, 3, 4])
    """

    def __init__(self, pair_layout="bert", **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        if pair_layout not in PAIR_LAYOUTS:
            raise ValueError(f"pair_layout={pair_layout!r} is not one of {list(PAIR_LAYOUTS)}.")
        self.pair_layout = pair_layout
        self.vocabulary = None
        self.special_tokens = {}

    def set_vocabulary(self, vocabulary, special_tokens: dict, source: str = None) -> None:
        """Sets the token list and the token of each role in ``SPECIAL_ROLES``.

        ``source`` (the model file) names what was wrong in errors.
        """
        self._token_to_id = {token: i for i, token in enumerate(vocabulary)}
        missing = {role: token for role, token in special_tokens.items()
                   if token not in self._token_to_id}
        if missing or set(special_tokens) != set(SPECIAL_ROLES):
            raise ValueError(f"{source or type(self).__name__}: the vocabulary lacks special "
                             f"token(s) {missing}; it needs one token for each of "
                             f"{list(SPECIAL_ROLES)}, got {special_tokens}.")
        self.vocabulary = list(vocabulary)
        self.special_tokens = dict(special_tokens)

    def _require_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError(f"{type(self).__name__} has no vocabulary yet; pass its model "
                             f"files or load a preset.")

    def vocabulary_size(self) -> int:
        self._require_vocabulary()
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        self._require_vocabulary()
        if token not in self._token_to_id:
            raise KeyError(f"{token!r} is not in the vocabulary of {type(self).__name__}.")
        return self._token_to_id[token]

    def id_to_token(self, token_id: int) -> str:
        self._require_vocabulary()
        return self.vocabulary[int(token_id)]

    pad_token_id = _special_token_id("pad")
    unk_token_id = _special_token_id("unk")
    cls_token_id = _special_token_id("cls")
    sep_token_id = _special_token_id("sep")
    mask_token_id = _special_token_id("mask")

    def special_token_ids(self):
        return [self.token_to_id(self.special_tokens[role]) for role in SPECIAL_ROLES]

    def tokenize(self, texts) -> tf.RaggedTensor:
        """``(batch,)`` strings to a ``(batch, None)`` ragged int32 tensor of ids."""
        raise NotImplementedError

    def call(self, inputs):
        return self.tokenize(inputs)
