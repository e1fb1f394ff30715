"""Pseudo-log-likelihood of text under a masked LM (Salazar et al., 2020), as one TF function.

Each token is masked in turn and scored by the model given all the others; the
sum of those log-probabilities is the pseudo-log-likelihood (PLL) and
``exp(-PLL / tokens)`` the pseudo-perplexity.
"""
import tensorflow as tf


def pseudo_log_likelihood(model, preprocessor, texts):
    """Masks every token of every text once and scores the original token there.

    Runs in eager mode and inside a SavedModel endpoint alike. Texts are packed
    like training sequences, so a text longer than ``sequence_length - 2``
    tokens is scored on its first ``sequence_length - 2``. One model call sees
    as many rows as there are tokens in the batch, so batch texts accordingly.

    Args:
        model: a ``MaskedLM`` (or any callable with its inputs and logits output).
        preprocessor: the ``MaskedLMPreprocessor`` that matches the model.
        texts: ``(batch,)`` strings.

    Returns:
        A dict of ``log_likelihood`` (float32 ``(batch,)``, natural log),
        ``num_tokens`` (int32 ``(batch,)``, tokens scored), ``num_correct``
        (int32 ``(batch,)``, tokens that were the model's top prediction) and
        ``token_log_probs`` (float32 ``(batch, sequence_length - 2)``, 0-padded).

    Example:
    >>> from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> pre = MaskedLMPreprocessor(WordPieceTokenizer(vocab), sequence_length=8)
    >>> model = MaskedLM(BertBackbone(8, 1, 1, 4, 8, max_sequence_length=8), pre)
    >>> out = pseudo_log_likelihood(model, pre, ["the cat sat", "cat"])
    >>> out["num_tokens"].numpy().tolist(), tuple(out["token_log_probs"].shape)
    ([3, 1], (2, 6))
    """
    inputs = preprocessor.pack(preprocessor.tokenizer.tokenize(tf.convert_to_tensor(texts)))
    token_ids = inputs["token_ids"]
    lengths = tf.reduce_sum(inputs["padding_mask"], axis=1)
    counts = lengths - 2  # [CLS] and [SEP] are not scored
    batch = tf.shape(token_ids)[0]
    rows = tf.repeat(tf.range(batch), counts)
    positions = tf.ragged.range(tf.ones_like(lengths), lengths - 1).flat_values
    copies = tf.range(tf.size(rows))
    originals = tf.gather_nd(token_ids, tf.stack([rows, positions], axis=1))
    masked = tf.tensor_scatter_nd_update(
        tf.gather(token_ids, rows), tf.stack([copies, positions], axis=1),
        tf.fill(tf.shape(rows), tf.cast(preprocessor.tokenizer.mask_token_id, token_ids.dtype)))
    logits = model(model.select_inputs({
        "token_ids": masked,
        "segment_ids": tf.gather(inputs["segment_ids"], rows),
        "padding_mask": tf.gather(inputs["padding_mask"], rows),
        "mask_positions": positions[:, tf.newaxis]}), training=False)[:, 0, :]
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    token_log_probs = tf.gather(log_probs, originals, batch_dims=1)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=originals.dtype),
                               originals), tf.int32)
    width = preprocessor.sequence_length - 2
    return {
        "log_likelihood": tf.math.unsorted_segment_sum(token_log_probs, rows, batch),
        "num_tokens": tf.cast(counts, tf.int32),
        "num_correct": tf.math.unsorted_segment_sum(correct, rows, batch),
        "token_log_probs": tf.RaggedTensor.from_row_lengths(token_log_probs, counts)
        .to_tensor(0.0, shape=[None, width]),
    }
