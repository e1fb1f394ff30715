"""SavedModel export of a ``MaskedLM``: tensor, text and ``tf.Example`` signatures.

Every signature runs with only TensorFlow loaded for WordPiece and byte-level BPE
models (their text signatures tokenize with core TensorFlow ops), and with
tensorflow-text loaded too for SentencePiece ones. Inputs are
checked inside the graph (``tf.debugging`` asserts), so a bad request fails with
an ``InvalidArgumentError`` that names the input instead of returning garbage:

* ``token_ids`` outside ``[0, vocabulary_size)``;
* ``segment_ids`` outside ``[0, num_segments)``, ``padding_mask`` outside ``{0, 1}``;
* ``mask_positions`` outside ``[0, length)``;
* ``token_ids``, ``segment_ids`` and ``padding_mask`` of different shapes;
* a length above the backbone's ``max_sequence_length``.

Raw text (``fill_mask``, ``encode``) is truncated instead, as documented there:
to the preprocessor's ``sequence_length`` tokens, ``[CLS]`` and ``[SEP]`` included.
"""
import keras
import tensorflow as tf

from cloze.evaluation.pseudo_likelihood import pseudo_log_likelihood
from cloze.models.tasks.fill_mask import fill_mask

SERVING_SIGNATURE = "serving_default"
FILL_MASK_SIGNATURE = "fill_mask"
ENCODE_SIGNATURE = "encode"
SCORE_SIGNATURE = "pseudo_log_likelihood"
TF_EXAMPLE_SIGNATURE = "tf_example"
MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask", "mask_positions")
# Model input -> the features ``tf_example`` reads it from: google-research/bert's
# name, then TF Model Garden's v2 name (an example holds one or the other).
EXAMPLE_FEATURES = {"token_ids": ("input_ids", "input_word_ids"),
                    "segment_ids": ("segment_ids", "input_type_ids"),
                    "padding_mask": ("input_mask",),
                    "mask_positions": ("masked_lm_positions",)}
# Fill-mask outputs this many candidates per mask and reads this many masks per text.
EXPORTED_TOP_K = 10
EXPORTED_NUM_MASKS = 8


def checked_inputs(inputs: dict, vocabulary_size: int, max_sequence_length: int,
                   num_segments: int = 2) -> dict:
    """``inputs`` (``MODEL_INPUTS``) guarded by asserts that run before any use of them.

    Example:
    >>> bad = {"token_ids": [[2, 99]], "segment_ids": [[0, 0]], "padding_mask": [[1, 1]],
    ...        "mask_positions": [[1]]}
    >>> checked_inputs({k: tf.constant(v) for k, v in bad.items()}, 20, 8)
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...token_ids: an id is outside...
    """
    token_ids, segment_ids = inputs["token_ids"], inputs["segment_ids"]
    padding_mask, mask_positions = inputs["padding_mask"], inputs["mask_positions"]
    length = tf.shape(token_ids)[1]
    checks = [
        tf.debugging.assert_equal(tf.shape(segment_ids), tf.shape(token_ids), message=(
            "segment_ids: shape differs from token_ids")),
        tf.debugging.assert_equal(tf.shape(padding_mask), tf.shape(token_ids), message=(
            "padding_mask: shape differs from token_ids")),
        tf.debugging.assert_less_equal(length, max_sequence_length, message=(
            f"token_ids: length is above max_sequence_length={max_sequence_length}")),
        tf.debugging.assert_non_negative(token_ids, message=(
            f"token_ids: an id is outside the vocabulary [0, {vocabulary_size})")),
        tf.debugging.assert_less(token_ids, vocabulary_size, message=(
            f"token_ids: an id is outside the vocabulary [0, {vocabulary_size})")),
        tf.debugging.assert_non_negative(segment_ids, message=(
            f"segment_ids: a value is outside [0, {num_segments})")),
        tf.debugging.assert_less(segment_ids, num_segments, message=(
            f"segment_ids: a value is outside [0, {num_segments})")),
        tf.debugging.assert_non_negative(padding_mask, message=(
            "padding_mask: a value is outside {0, 1}")),
        tf.debugging.assert_less_equal(padding_mask, 1, message=(
            "padding_mask: a value is outside {0, 1}")),
        tf.debugging.assert_non_negative(mask_positions, message=(
            "mask_positions: a position is outside the sequence [0, length)")),
        tf.debugging.assert_less(mask_positions, length, message=(
            "mask_positions: a position is outside the sequence [0, length)")),
    ]
    with tf.control_dependencies(checks):
        return {name: tf.identity(inputs[name]) for name in MODEL_INPUTS}


def parse_examples(serialized) -> dict:
    """Serialized masked-LM ``tf.train.Example`` strings to model inputs.

    Reads google-research/bert's ``input_ids``, ``input_mask``, ``segment_ids``
    and ``masked_lm_positions``, or TF Model Garden's ``input_word_ids`` and
    ``input_type_ids`` in place of ``input_ids`` and ``segment_ids``.
    Features may have any length and are padded with 0 to the batch's longest;
    per example, ``input_mask`` must be as long as ``input_ids`` and so must
    ``segment_ids`` unless it is missing (segment 0), which is asserted.

    Example:
    >>> from cloze.data.features import make_example
    >>> record = make_example([2, 4, 6, 3], [1], [5], 6, 2).SerializeToString()
    >>> inputs = parse_examples(tf.constant([record]))
    >>> inputs["token_ids"].numpy().tolist(), inputs["mask_positions"].numpy().tolist()
    ([[2, 4, 6, 3, 0, 0]], [[1, 0]])
    """
    spec = {feature: tf.io.RaggedFeature(tf.int64)
            for features in EXAMPLE_FEATURES.values() for feature in features}
    parsed = tf.io.parse_example(serialized, spec)
    # Per example one of the alternative names is present and the other empty.
    features = {name: tf.concat([parsed[f] for f in alternatives], axis=1)
                if len(alternatives) > 1 else parsed[alternatives[0]]
                for name, alternatives in EXAMPLE_FEATURES.items()}
    lengths = features["token_ids"].row_lengths()
    segment_lengths = features["segment_ids"].row_lengths()
    checks = [
        tf.debugging.assert_equal(features["padding_mask"].row_lengths(), lengths, message=(
            "input_mask: length differs from input_ids in an example")),
        tf.debugging.assert_equal(
            tf.logical_or(tf.equal(segment_lengths, 0), tf.equal(segment_lengths, lengths)),
            True, message="segment_ids: length differs from input_ids in an example"),
    ]
    width = features["token_ids"].bounding_shape()[1]
    with tf.control_dependencies(checks):
        return {name: tf.cast(value.to_tensor(
                    shape=None if name == "mask_positions" else tf.stack([-1, width])), tf.int32)
                for name, value in features.items()}


def export_saved_model(task, export_dir: str) -> str:
    """Writes ``task`` as a SavedModel for TF Serving (see the module docstring for its ops).

    Signatures:
        ``serving_default``: int32 ``(batch, length)`` ``token_ids``,
        ``segment_ids``, ``padding_mask`` and ``(batch, masks)``
        ``mask_positions`` to ``logits`` ``(batch, masks, vocabulary)``.
        ``tf_example``: ``examples`` ``(batch,)`` serialized ``tf.train.Example``
        with google-research/bert's features (``input_ids``, ``input_mask``,
        ``segment_ids``, ``masked_lm_positions``; or Model Garden's
        ``input_word_ids``, ``input_type_ids``) to ``logits``; what TFX's
        InfraValidator and RunInference send.
        ``fill_mask`` (when the task has a preprocessor): ``texts`` ``(batch,)``
        strings with ``[MASK]`` to ``tokens``, ``ids``, ``scores``
        ``(batch, 8, 10)`` and ``mask_weights`` ``(batch, 8)``; tokenization
        and packing run inside the graph. Text beyond ``sequence_length - 2``
        tokens is cut off, and so are masks in it (their ``mask_weights`` are 0).
        ``encode`` (when the task has a preprocessor): ``texts`` to
        ``sequence_output`` ``(batch, sequence_length, hidden)``,
        ``pooled_output`` ``(batch, hidden)`` (when the backbone has one),
        ``token_ids`` and ``padding_mask`` ``(batch, sequence_length)``; text is
        truncated as in ``fill_mask``.
        ``pseudo_log_likelihood`` (when the task has a preprocessor): ``texts``
        to ``log_likelihood``, ``num_tokens``, ``num_correct`` ``(batch,)`` and
        ``token_log_probs`` ``(batch, sequence_length - 2)``: every token
        masked in turn (``cloze.evaluation.pseudo_likelihood``); text is
        truncated as in ``fill_mask``.

    Example:
    >>> import tempfile
    >>> from cloze.models import BertBackbone, MaskedLM
    >>> task = MaskedLM(BertBackbone(20, 1, 1, 4, 8, max_sequence_length=8))
    >>> path = export_saved_model(task, tempfile.mkdtemp())
    >>> sorted(tf.saved_model.load(path).signatures)
    ['serving_default', 'tf_example']
    """
    backbone = task.backbone
    limits = {"vocabulary_size": backbone.vocabulary_size,
              "max_sequence_length": backbone.max_sequence_length,
              "num_segments": getattr(backbone, "num_segments", 1)}
    archive = keras.export.ExportArchive()
    archive.track(task)

    def logits(inputs):
        return {"logits": task(task.select_inputs(checked_inputs(inputs, **limits)),
                               training=False)}

    archive.add_endpoint(
        SERVING_SIGNATURE, lambda *tensors: logits(dict(zip(MODEL_INPUTS, tensors))),
        input_signature=[tf.TensorSpec((None, None), tf.int32, name=n) for n in MODEL_INPUTS])
    archive.add_endpoint(
        TF_EXAMPLE_SIGNATURE, lambda examples: logits(parse_examples(examples)),
        input_signature=[tf.TensorSpec((None,), tf.string, name="examples")])
    if task.preprocessor is not None:
        preprocessor = task.preprocessor
        texts_spec = [tf.TensorSpec((None,), tf.string, name="texts")]

        def encode(texts):
            inputs = preprocessor.pack(preprocessor.tokenizer.tokenize(texts))
            outputs = backbone({name: inputs[name] for name in backbone.input}, training=False)
            if not isinstance(outputs, dict):  # backbones without a pooler return one tensor
                outputs = {"sequence_output": outputs}
            return {**outputs, "token_ids": inputs["token_ids"],
                    "padding_mask": inputs["padding_mask"]}

        archive.add_endpoint(
            FILL_MASK_SIGNATURE,
            lambda texts: fill_mask(task, preprocessor, texts, EXPORTED_TOP_K,
                                    EXPORTED_NUM_MASKS),
            input_signature=texts_spec)
        archive.add_endpoint(ENCODE_SIGNATURE, encode, input_signature=texts_spec)
        archive.add_endpoint(
            SCORE_SIGNATURE, lambda texts: pseudo_log_likelihood(task, preprocessor, texts),
            input_signature=texts_spec)
    archive.write_out(export_dir, verbose=False)
    return export_dir
