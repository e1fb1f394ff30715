"""SavedModel export of a ``MaskedLM`` with a tensor signature and an in-graph fill-mask."""
import keras
import tensorflow as tf

from cloze.models.tasks.fill_mask import fill_mask

SERVING_SIGNATURE = "serving_default"
FILL_MASK_SIGNATURE = "fill_mask"
MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask", "mask_positions")
# Fill-mask outputs this many candidates per mask and reads this many masks per text.
EXPORTED_TOP_K = 10
EXPORTED_NUM_MASKS = 8


def export_saved_model(task, export_dir: str) -> str:
    """Writes ``task`` as a SavedModel loadable with only TensorFlow and tensorflow-text.

    Signatures:
        ``serving_default``: int32 ``(batch, length)`` ``token_ids``,
        ``segment_ids``, ``padding_mask`` and ``(batch, masks)``
        ``mask_positions`` to ``logits`` ``(batch, masks, vocabulary)``.
        ``fill_mask`` (when the task has a preprocessor): ``texts`` ``(batch,)``
        strings with ``[MASK]`` to ``tokens``, ``ids``, ``scores``
        ``(batch, 8, 10)`` and ``mask_weights`` ``(batch, 8)``; tokenization
        and packing run inside the graph.

    Example:
    >>> import tempfile
    >>> from cloze.models import BertBackbone, MaskedLM
    >>> task = MaskedLM(BertBackbone(20, 1, 1, 4, 8, max_sequence_length=8))
    >>> path = export_saved_model(task, tempfile.mkdtemp())
    >>> sorted(tf.saved_model.load(path).signatures)
    ['serving_default']
    """
    archive = keras.export.ExportArchive()
    archive.track(task)

    def logits(token_ids, segment_ids, padding_mask, mask_positions):
        inputs = dict(zip(MODEL_INPUTS, (token_ids, segment_ids, padding_mask, mask_positions)))
        return {"logits": task(inputs, training=False)}

    archive.add_endpoint(
        SERVING_SIGNATURE, logits,
        input_signature=[tf.TensorSpec((None, None), tf.int32, name=n) for n in MODEL_INPUTS])
    if task.preprocessor is not None:
        archive.add_endpoint(
            FILL_MASK_SIGNATURE,
            lambda texts: fill_mask(task, task.preprocessor, texts, EXPORTED_TOP_K,
                                    EXPORTED_NUM_MASKS),
            input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
    archive.write_out(export_dir, verbose=False)
    return export_dir
