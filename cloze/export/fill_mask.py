"""Fill-mask from any trained Cloze model: a SavedModel directory or a preset directory."""
import os

import tensorflow as tf
import tensorflow_text  # noqa: F401  (a SentencePiece model's fill_mask uses its ops)

from cloze.export.saved_model import FILL_MASK_SIGNATURE
from cloze.models.tasks.fill_mask import format_fills
from cloze.models import presets


class FillMasker:
    """Top-k fillers for each ``[MASK]`` in text, from a SavedModel or a preset.

    Args:
        path: a SavedModel directory (with a ``fill_mask`` signature) or a preset
            directory (with ``task.json``).

    Example (with ``model_dir`` from ``cloze run``)::

        masker = FillMasker(model_dir)
        masker(["the [MASK] of python"], top_k=5)[0][0]  # [(token, score), ...]
    """

    def __init__(self, path: str):
        self.path = path
        if tf.saved_model.contains_saved_model(path):
            loaded = tf.saved_model.load(path)
            if FILL_MASK_SIGNATURE not in loaded.signatures:
                raise ValueError(f"SavedModel {path} has no {FILL_MASK_SIGNATURE!r} signature; "
                                 f"it has {sorted(loaded.signatures)}.")
            signature = loaded.signatures[FILL_MASK_SIGNATURE]
            self._loaded = loaded  # keeps the signature's resources alive
            self._fill = lambda texts, top_k: signature(texts=tf.constant(texts))
            self.max_top_k = signature.structured_outputs["ids"].shape[-1]
        elif os.path.exists(os.path.join(path, presets.TASK_CONFIG_FILE)):
            from cloze.models.tasks.fill_mask import fill_mask
            from cloze.models.tasks.masked_lm import MaskedLM

            task = MaskedLM.from_preset(path)
            self._fill = lambda texts, top_k: fill_mask(task, task.preprocessor, texts, top_k)
            self.max_top_k = task.backbone.vocabulary_size
        else:
            raise ValueError(f"{path} is neither a SavedModel nor a Cloze preset directory "
                             f"(expected saved_model.pb or {presets.TASK_CONFIG_FILE}).")

    def __call__(self, texts, top_k=5) -> list:
        """Per text, per ``[MASK]``, the ``top_k`` ``(token, score)`` pairs, best first."""
        if not 1 <= top_k <= self.max_top_k:
            raise ValueError(f"top_k={top_k} must be between 1 and {self.max_top_k} for {self.path}.")
        outputs = self._fill(list(texts), top_k)
        outputs = {k: v[:, :, :top_k] if k != "mask_weights" else v for k, v in outputs.items()}
        return format_fills(outputs)
