"""What every Cloze task shares: a functional model over a backbone, one head, presets."""
import os

import keras
import numpy as np
import tensorflow as tf
from keras.src.saving import saving_lib

from cloze.models import builtin_presets, presets
from cloze.models.backbones.backbone import Backbone, _PresetNames
from cloze.models.optimizers import WarmupLinearDecay, adamw
from cloze.models.tasks.token_accuracy import TokenAccuracy

# "auto" compile: the peak learning rate and warmup share a BERT trainer picks for
# continued pretraining and fine-tuning.
AUTO_PEAK_LEARNING_RATE = 5e-5
AUTO_WARMUP_SHARE = 0.1


class Task(keras.Model):
    """A backbone plus one head, trained with token-level cross-entropy, savable as a preset.

    Subclasses build the functional graph in ``__init__`` and name their head
    through the ``head`` property; this class gives them keras-hub's
    ``compile("auto")``, ``fit``/``evaluate`` (raw strings go through the
    preprocessor, when the task has one), ``get_config`` and the preset layout
    (``task.json``, the head's weights in ``task.weights.h5``, the backbone's
    files beside them).

    Example:
    >>> from cloze.models import BertBackbone, MaskedLM
    >>> task = MaskedLM(BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                              hidden_dim=8, intermediate_dim=16, max_sequence_length=8))
    >>> isinstance(task, Task), task.head.name
    (True, 'mlm_head')
    """

    presets = _PresetNames()
    preprocessor = None

    @property
    def head(self):
        """The task's own layer on top of the backbone; ``task.weights.h5`` holds its weights."""
        raise NotImplementedError

    def select_inputs(self, inputs: dict) -> dict:
        """The entries of ``inputs`` that this task takes (RoBERTa's take no ``segment_ids``)."""
        return {name: inputs[name] for name in self.input}

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """``"auto"``: AdamW (no decay on norms and biases) whose learning rate warms up
        over the first 10% of the steps of the first ``fit`` to 5e-5 and then decays
        linearly to 0; cross-entropy over the predicted tokens weighted by the
        sample weights; and token accuracy (``TokenAccuracy``)."""
        self._auto_schedule = None
        if optimizer == "auto":
            self._auto_schedule = WarmupLinearDecay(AUTO_PEAK_LEARNING_RATE, warmup_steps=0)
            optimizer = adamw(self._auto_schedule)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight")
        if weighted_metrics == "auto":
            weighted_metrics = [TokenAccuracy(name="accuracy")]
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
        """Keras ``fit``; raw strings go through the preprocessor on the fly."""
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

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.layers.serialize(self.backbone)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)

    def save_to_preset(self, preset_dir: str) -> None:
        """Writes the task and its backbone in keras-hub's preset layout."""
        presets.save_serialized(self, preset_dir, presets.TASK_CONFIG_FILE)
        saving_lib.save_weights_only(
            self.head, os.path.join(preset_dir, presets.TASK_WEIGHTS_FILE))
        self.backbone.save_to_preset(preset_dir)

    @classmethod
    def _from_backbone_preset(cls, preset: str, **kwargs):
        """The task over the backbone of a preset without ``task.json`` (a fresh head)."""
        return cls(Backbone.from_preset(preset, load_weights=False), **kwargs)

    def _load_preset_assets(self, preset: str) -> None:
        """Reads the files beside ``task.json`` that its config does not hold."""

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
        if os.path.exists(os.path.join(preset, presets.TASK_CONFIG_FILE)):
            task = presets.load_serialized(preset, presets.TASK_CONFIG_FILE, cls, **kwargs)
            task._load_preset_assets(preset)
        else:
            task = cls._from_backbone_preset(preset, **kwargs)
        if load_weights:
            task.backbone.load_weights(presets.preset_file(preset, presets.MODEL_WEIGHTS_FILE))
            head_weights = os.path.join(preset, presets.TASK_WEIGHTS_FILE)
            if os.path.exists(head_weights):
                saving_lib.load_weights_only(task.head, head_weights)
        return task
