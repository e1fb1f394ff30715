"""Fill-mask: the top-k words for each ``[MASK]`` in raw text, as one TF function."""
import re

import tensorflow as tf

from cloze.models.tokenizers.byte_pair_tokenizer import BytePairTokenizer, bytes_to_unicode
from cloze.models.tokenizers.sentence_piece_tokenizer import SentencePieceTokenizer

MASK = "[MASK]"


def fill_mask(model, preprocessor, texts, top_k=5, num_masks=8):
    """Scores every vocabulary token at each ``[MASK]`` of each text.

    Runs in eager mode and inside a SavedModel endpoint alike. ``[MASK]``
    marks a mask whatever the tokenizer; its own mask token (RoBERTa's
    ``<mask>``) does too.

    Args:
        model: a ``MaskedLM`` (or any callable with its inputs and logits output).
        preprocessor: the ``MaskedLMPreprocessor`` that matches the model.
        texts: ``(batch,)`` strings containing ``[MASK]``.
        top_k: fillers per mask (at most the vocabulary size).
        num_masks: masks read per text; later ones are ignored.

    Returns:
        A dict of ``tokens`` (string: each token as text, see
        ``display_tokens``), ``ids`` (int32) and ``scores`` (float32 softmax
        probabilities), each ``(batch, num_masks, top_k)``, and
        ``mask_weights`` ``(batch, num_masks)``: 1 where a mask was found.

    Example:
    >>> from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> pre = MaskedLMPreprocessor(WordPieceTokenizer(vocab), sequence_length=8)
    >>> model = MaskedLM(BertBackbone(8, 1, 1, 4, 8, max_sequence_length=8), pre)
    >>> out = fill_mask(model, pre, ["the [MASK] sat"], top_k=3, num_masks=1)
    >>> tuple(out["tokens"].shape), out["mask_weights"].numpy().tolist()
    ((1, 1, 3), [[1]])
    """
    tokenizer = preprocessor.tokenizer
    top_k = min(top_k, tokenizer.vocabulary_size())
    mask_token = tokenizer.id_to_token(tokenizer.mask_token_id)
    texts = tf.convert_to_tensor(texts, tf.string)
    if mask_token != MASK:
        texts = tf.strings.regex_replace(texts, re.escape(MASK), mask_token)
    inputs = preprocessor.encode_masked_text(texts, num_masks=num_masks)
    mask_weights = inputs.pop("mask_weights")
    logits = model(model.select_inputs(inputs), training=False)
    scores, ids = tf.math.top_k(tf.nn.softmax(tf.cast(logits, tf.float32)), k=top_k)
    vocabulary = tf.constant(display_tokens(tokenizer))
    return {"tokens": tf.gather(vocabulary, ids), "ids": ids, "scores": scores,
            "mask_weights": mask_weights}


def display_tokens(tokenizer) -> list:
    """Each vocabulary token as the text it stands for, to show fills to people.

    Byte-level BPE tokens are decoded from GPT-2's byte characters
    (``Ġfox`` -> ``fox``, bytes that are not whole UTF-8 characters as
    U+FFFD), SentencePiece drops its word mark (``▁fox`` -> ``fox``), both
    without the surrounding whitespace; a token that is nothing but
    whitespace, and every WordPiece token (``##s`` keeps its mark), stays as
    it is.

    Example:
    >>> vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>",
    ...                                      "Ġ", "Ġfox", "es", "Ã©"])}
    >>> display_tokens(BytePairTokenizer(vocab, ["e s"]))
    ['<s>', '<pad>', '</s>', '<unk>', '<mask>', 'Ġ', 'fox', 'es', 'é']
    """
    if isinstance(tokenizer, BytePairTokenizer):
        byte_of = {char: byte for byte, char in enumerate(bytes_to_unicode())}
        texts = [bytes(byte_of[char] for char in token).decode("utf-8", "replace")
                 if all(char in byte_of for char in token) else token
                 for token in tokenizer.vocabulary]
    elif isinstance(tokenizer, SentencePieceTokenizer):
        texts = [token.replace("▁", " ") for token in tokenizer.vocabulary]
    else:
        return list(tokenizer.vocabulary)
    return [text.strip() or token for text, token in zip(texts, tokenizer.vocabulary)]


def format_fills(outputs) -> list:
    """Per text, per found mask, a list of ``(token, score)`` pairs, best first."""
    results = []
    for tokens, scores, weights in zip(outputs["tokens"].numpy(), outputs["scores"].numpy(),
                                       outputs["mask_weights"].numpy()):
        results.append([
            [(t.decode("utf-8"), float(s)) for t, s in zip(mask_tokens, mask_scores)]
            for mask_tokens, mask_scores, w in zip(tokens, scores, weights) if w
        ])
    return results
