"""Fill-mask: the top-k tokens for each ``[MASK]`` in raw text, as one TF function."""
import tensorflow as tf


def fill_mask(model, preprocessor, texts, top_k=5, num_masks=8):
    """Scores every vocabulary token at each ``[MASK]`` of each text.

    Runs in eager mode and inside a SavedModel endpoint alike.

    Args:
        model: a ``MaskedLM`` (or any callable with its inputs and logits output).
        preprocessor: the ``MaskedLMPreprocessor`` that matches the model.
        texts: ``(batch,)`` strings containing ``[MASK]``.
        top_k: fillers per mask (at most the vocabulary size).
        num_masks: masks read per text; later ones are ignored.

    Returns:
        A dict of ``tokens`` (string), ``ids`` (int32) and ``scores`` (float32
        softmax probabilities), each ``(batch, num_masks, top_k)``, and
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
    top_k = min(top_k, preprocessor.tokenizer.vocabulary_size())
    inputs = preprocessor.encode_masked_text(texts, num_masks=num_masks)
    mask_weights = inputs.pop("mask_weights")
    logits = model(inputs, training=False)
    scores, ids = tf.math.top_k(tf.nn.softmax(tf.cast(logits, tf.float32)), k=top_k)
    vocabulary = tf.constant(preprocessor.tokenizer.vocabulary)
    return {"tokens": tf.gather(vocabulary, ids), "ids": ids, "scores": scores,
            "mask_weights": mask_weights}


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
