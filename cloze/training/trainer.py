"""The one training core behind the TFX Trainer's ``run_fn`` and ``cloze train``."""
import dataclasses
import json
import logging
import math
import os
import warnings
from typing import Dict, List, Optional

import keras
import tensorflow as tf

from cloze.config import PipelineConfig
from cloze.export.saved_model import export_saved_model
from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer
from cloze.models.optimizers import WarmupLinearDecay, adamw
from cloze.training.dataset import masked_lm_dataset

CONFIG_FILE = "cloze_config.json"
RESULT_FILE = "training_result.json"
# The progress log and the loss curve get this many points over a run.
LOG_POINTS = 10


@dataclasses.dataclass(frozen=True)
class TrainingOutputs:
    """Where training writes: the SavedModel, the preset and the logs."""

    serving_dir: str
    preset_dir: str
    log_dir: str


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """Loss and accuracy per log point, and the final eval numbers."""

    steps: List[int]
    history: Dict[str, List[float]]
    eval_loss: Optional[float]
    eval_accuracy: Optional[float]

    @property
    def train_loss(self) -> float:
        return self.history["loss"][-1]

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "train_loss": self.train_loss}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainingResult":
        values = json.loads(text)
        values.pop("train_loss")
        return cls(**values)


def build_task(config: PipelineConfig, vocabulary) -> MaskedLM:
    """A fresh ``MaskedLM`` over a ``BertBackbone`` sized by the config and vocabulary."""
    tokenizer = WordPieceTokenizer(vocabulary, lowercase=config.vocab.lower_case)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(),
                            **dataclasses.asdict(config.model))
    preprocessor = MaskedLMPreprocessor(tokenizer, sequence_length=config.data.max_seq_length)
    return MaskedLM(backbone, preprocessor)


def _eval_dataset(pattern, config: PipelineConfig):
    """The eval batches and their count (None when the eval split is empty)."""
    dataset = masked_lm_dataset(pattern, config.data, config.train.batch_size, training=False)
    if config.train.eval_steps:
        dataset = dataset.take(config.train.eval_steps)
    batches = sum(1 for _ in dataset)
    if not batches:
        logging.warning("eval split %s holds no sequences; skipping evaluation", pattern)
        return None, 0
    return dataset, batches


def train(config: PipelineConfig, train_pattern: str, eval_pattern: str, vocabulary: str,
          outputs: TrainingOutputs) -> TrainingResult:
    """Trains a masked LM on the TFRecords and writes the SavedModel, preset and logs.

    Example (with shards and a vocabulary from the data stage)::

        result = train(PipelineConfig(), "data/Split-train/*", "data/Split-eval/*",
                       "data/vocab.txt", TrainingOutputs("serving", "preset", "logs"))
        result.history["loss"]  # falls
    """
    train_config = config.train
    # MLM pretraining leaves BERT's pooler unused, by design (it serves sentence tasks).
    warnings.filterwarnings("ignore", message="Gradients do not exist for variables.*pooled_dense")
    keras.utils.set_random_seed(train_config.seed)
    task = build_task(config, vocabulary)
    points = max(1, min(LOG_POINTS, train_config.train_steps // train_config.steps_per_execution))
    steps_per_point = math.ceil(train_config.train_steps / points)
    total_steps = points * steps_per_point
    schedule = WarmupLinearDecay(train_config.learning_rate,
                                 round(train_config.warmup_ratio * total_steps), total_steps)
    task.compile(optimizer=adamw(schedule, weight_decay=train_config.weight_decay),
                 jit_compile=train_config.jit_compile,
                 steps_per_execution=min(train_config.steps_per_execution, steps_per_point))
    train_data = masked_lm_dataset(train_pattern, config.data, train_config.batch_size,
                                   training=True, seed=train_config.seed)
    eval_data, eval_batches = _eval_dataset(eval_pattern, config)
    history = task.fit(
        train_data, epochs=points, steps_per_epoch=steps_per_point,
        validation_data=eval_data, validation_steps=eval_batches or None, verbose=2,
        callbacks=[keras.callbacks.TensorBoard(os.path.join(outputs.log_dir, "tensorboard"))])
    eval_loss = eval_accuracy = None
    if eval_data is not None:
        eval_loss, eval_accuracy = task.evaluate(eval_data, steps=eval_batches, verbose=0)
    result = TrainingResult(
        steps=[steps_per_point * (i + 1) for i in range(points)],
        history={k: [float(v) for v in values] for k, values in history.history.items()},
        eval_loss=eval_loss, eval_accuracy=eval_accuracy)

    task.save_to_preset(outputs.preset_dir)
    export_saved_model(task, outputs.serving_dir)
    for directory in (outputs.preset_dir, outputs.log_dir):
        tf.io.gfile.makedirs(directory)
        with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE), "w") as f:
            f.write(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    with tf.io.gfile.GFile(os.path.join(outputs.log_dir, RESULT_FILE), "w") as f:
        f.write(result.to_json())
    return result
