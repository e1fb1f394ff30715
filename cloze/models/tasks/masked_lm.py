"""The masked-language-model task: a backbone plus a ``MaskedLMHead``."""
import os

import keras
import numpy as np
import tensorflow as tf
from keras.src.saving import saving_lib

from cloze.models import builtin_presets, presets
from cloze.models.backbones.backbone import Backbone, _PresetNames
from cloze.models.heads.masked_lm_head import MaskedLMHead
from cloze.models.optimizers import WarmupLinearDecay, adamw
from cloze.models.preprocessors.masked_lm_preprocessor import MaskedLMPreprocessor
from cloze.models.tasks.fill_mask import fill_mask, format_fills

# "auto" compile: the peak learning rate and warmup share a BERT trainer picks for
# continued pretraining and fine-tuning.
AUTO_PEAK_LEARNING_RATE = 5e-5
AUTO_WARMUP_SHARE = 0.1


@keras.saving.register_keras_serializable(package="cloze")
class MaskedLM(keras.Model):
    """Predicts the tokens at ``mask_positions`` from the backbone's sequence output.

    Inputs are the backbone's inputs plus ``mask_positions`` ``(batch, masks)``;
    the output is logits ``(batch, masks, vocabulary_size)`` in float32. The head
    is tied to the backbone's token embedding and computes only the masked
    positions.

    Args:
        backbone: a ``Backbone``.
        preprocessor: a ``MaskedLMPreprocessor`` or None.

    Example:
    >>> import numpy as np
    >>> from cloze.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2,
    ...                         hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = MaskedLM(backbone)
    >>> logits = model({"token_ids": np.ones((2, 6), "int32"),
    ...                 "segment_ids": np.zeros((2, 6), "int32"),
    ...                 "padding_mask": np.ones((2, 6), "int32"),
    ...                 "mask_positions": np.array([[1, 2], [3, 0]])})
    >>> tuple(logits.shape)
    (2, 2, 50)
    """

    presets = _PresetNames()

    def __init__(self, backbone, preprocessor=None, **kwargs):
        inputs = dict(backbone.input)
        mask_positions = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        head = MaskedLMHead(token_embedding=backbone.token_embedding,
                            dtype=backbone.dtype_policy, name="mlm_head",
                            **backbone.masked_lm_head_config())
        logits = head(backbone(inputs)["sequence_output"], mask_positions=mask_positions)
        kwargs.setdefault("name", "masked_lm")
        super().__init__(inputs={**inputs, "mask_positions": mask_positions}, outputs=logits,
                         **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = head

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """``"auto"``: AdamW (no decay on norms and biases) whose learning rate warms up
        over the first 10% of the steps of the first ``fit`` to 5e-5 and then decays
        linearly to 0; cross-entropy over the masked positions weighted by
        ``mask_weights``; and masked-token accuracy."""
        self._auto_schedule = None
        if optimizer == "auto":
            self._auto_schedule = WarmupLinearDecay(AUTO_PEAK_LEARNING_RATE, warmup_steps=0)
            optimizer = adamw(self._auto_schedule)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight")
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics,
                        **kwargs)

    def _text_batches(self, x, batch_size):
        """Raw strings (a list, an array, or a tf.data.Dataset of strings) as batches
        run through the preprocessor; None when ``x`` is not text."""
        if self.preprocessor is None:
            return None
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if not (isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string):
                return None
            batches = x.batch(batch_size or 32) if spec.shape.rank == 0 else x
        elif isinstance(x, (list, tuple, np.ndarray)) and len(x) and isinstance(x[0], (str, bytes)):
            batches = tf.data.Dataset.from_tensor_slices(list(x)).batch(batch_size or 32)
        else:
            return None
        return batches.map(self.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE)

    def _size_auto_schedule(self, data, batch_size, epochs, steps_per_epoch):
        """Fits the "auto" schedule to the first ``fit``'s length, when it is known."""
        schedule, self._auto_schedule = getattr(self, "_auto_schedule", None), None
        if schedule is None:
            return
        if steps_per_epoch is None:
            if isinstance(data, tf.data.Dataset):
                cardinality = int(data.cardinality())
                steps_per_epoch = cardinality if cardinality > 0 else None
            elif data is not None:
                first = next(iter(data.values())) if isinstance(data, dict) else data
                steps_per_epoch = -(-len(first) // (batch_size or 32))
        if steps_per_epoch:
            schedule.total_steps = steps_per_epoch * epochs
            schedule.warmup_steps = round(AUTO_WARMUP_SHARE * schedule.total_steps)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, steps_per_epoch=None, **kwargs):
        """Keras ``fit``; raw strings are tokenized and dynamically masked on the fly."""
        text = self._text_batches(x, batch_size)
        self._size_auto_schedule(text if text is not None else x, batch_size, epochs,
                                 steps_per_epoch)
        if text is not None:
            return super().fit(text, epochs=epochs, steps_per_epoch=steps_per_epoch, **kwargs)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs,
                           steps_per_epoch=steps_per_epoch, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """Keras ``evaluate``; raw strings are preprocessed as in ``fit``."""
        text = self._text_batches(x, batch_size)
        if text is not None:
            return super().evaluate(text, **kwargs)
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def fill_mask(self, texts, top_k=5, num_masks=8) -> list:
        """For each text, for each ``[MASK]`` in it, the ``top_k`` ``(token, score)`` fillers."""
        if self.preprocessor is None:
            raise ValueError("fill_mask needs a preprocessor; build MaskedLM with one.")
        return format_fills(fill_mask(self, self.preprocessor, texts, top_k, num_masks))

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            "preprocessor": (keras.layers.serialize(self.preprocessor)
                             if self.preprocessor is not None else None),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        if config.get("preprocessor"):
            config["preprocessor"] = keras.layers.deserialize(config["preprocessor"])
        return cls(**config)

    def save_to_preset(self, preset_dir: str) -> None:
        """Writes the task, backbone and preprocessor in keras-hub's preset layout."""
        presets.save_serialized(self, preset_dir, presets.TASK_CONFIG_FILE)
        saving_lib.save_weights_only(
            self.masked_lm_head, os.path.join(preset_dir, presets.TASK_WEIGHTS_FILE))
        self.backbone.save_to_preset(preset_dir)
        if self.preprocessor is not None:
            self.preprocessor.save_to_preset(preset_dir)

    @classmethod
    def from_preset(cls, preset: str, load_weights: bool = True, **kwargs):
        """Rebuilds the task a preset describes; falls back to a fresh head on its backbone.

        ``preset`` is anything ``Backbone.from_preset`` takes; a built-in name
        gives a randomly initialised model without a preprocessor.
        """
        if preset in builtin_presets.BUILTIN_PRESETS:
            return cls(Backbone.from_preset(preset, load_weights=load_weights), **kwargs)
        preset = presets.resolve_handle(preset)
        if presets.is_hugging_face_checkpoint(preset):
            from cloze.models.convert import load_hf  # converters import the models

            return load_hf(preset)
        task_config = os.path.join(preset, presets.TASK_CONFIG_FILE)
        if os.path.exists(task_config):
            task = presets.load_serialized(preset, presets.TASK_CONFIG_FILE, cls, **kwargs)
            if task.preprocessor is not None:
                task.preprocessor.load_preset_assets(preset)
        else:
            preprocessor = None
            if os.path.exists(os.path.join(preset, presets.PREPROCESSOR_CONFIG_FILE)):
                preprocessor = MaskedLMPreprocessor.from_preset(preset)
            task = cls(Backbone.from_preset(preset, load_weights=False), preprocessor, **kwargs)
        if load_weights:
            task.backbone.load_weights(presets.preset_file(preset, presets.MODEL_WEIGHTS_FILE))
            head_weights = os.path.join(preset, presets.TASK_WEIGHTS_FILE)
            if os.path.exists(head_weights):
                saving_lib.load_weights_only(task.masked_lm_head, head_weights)
        return task
