"""The one training core behind the TFX Trainer's ``run_fn`` and ``cloze train``."""
import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import tempfile
import time
import warnings
from typing import Dict, List, Optional

import keras
import tensorflow as tf

from cloze.config import ConfigError, PipelineConfig, TrainConfig
from cloze.data.tokenizers import load_tokenizer
from cloze.export.saved_model import export_saved_model
from cloze.models import MaskedLM, MaskedLMPreprocessor
from cloze.models.backbones.backbone import Backbone
from cloze.models.optimizers import NO_DECAY_PATTERN, WarmupLinearDecay, adamw
from cloze.training.callbacks import Resilience, Throughput, TrainingPreempted
from cloze.training.checkpoints import TrainingCheckpoint
from cloze.training.dataset import RecordLayout, masked_lm_dataset, matching_files
from cloze.training.multi_worker_loop import MultiWorkerLoop
from cloze.training.report import write_training_report
from cloze.training.strategy import distribution_strategy, is_chief, is_multi_worker

CONFIG_FILE = "cloze_config.json"
RESULT_FILE = "training_result.json"
# The progress log and the loss curve get this many points over a run.
LOG_POINTS = 10
# Backbones trained from scratch use Hugging Face's numerics where their defaults
# follow keras-hub's, so `cloze convert --to hf` can export what Cloze trains;
# model.options overrides these.
FROM_SCRATCH_OPTIONS = {
    "BertBackbone": {"activation": "gelu", "masked_lm_layer_norm_epsilon": 1e-12},
    "DebertaV3Backbone": {"masked_lm_layer_norm_epsilon": 1e-7},
}


@dataclasses.dataclass(frozen=True)
class TrainingOutputs:
    """Where training writes: the SavedModel, the preset, the logs and the checkpoints
    (by default ``<log_dir>/checkpoints``; rerunning with the same directory resumes)."""

    serving_dir: str
    preset_dir: str
    log_dir: str
    checkpoint_dir: Optional[str] = None

    @property
    def checkpoints(self) -> str:
        return self.checkpoint_dir or os.path.join(self.log_dir, "checkpoints")


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """Loss and accuracy per log point, the final eval numbers, and the speed."""

    steps: List[int]
    history: Dict[str, List[float]]
    eval_loss: Optional[float]
    eval_accuracy: Optional[float]
    tokens_per_second: Optional[float] = None
    replicas: int = 1

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


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How ``train_steps`` splits into Keras epochs (log points) and checkpoints."""

    total: int
    steps_per_epoch: int
    checkpoint_every: int

    @classmethod
    def of(cls, config: TrainConfig) -> "Schedule":
        # Callbacks see every steps_per_execution-th batch, so every boundary is a multiple.
        unit = config.steps_per_execution
        points = max(1, min(LOG_POINTS, config.train_steps // unit))
        steps_per_epoch = unit * math.ceil(config.train_steps / points / unit)
        every = config.checkpoint_every_steps or steps_per_epoch
        return cls(total=steps_per_epoch * points, steps_per_epoch=steps_per_epoch,
                   checkpoint_every=unit * math.ceil(every / unit))


def build_task(config: PipelineConfig, vocabulary: str) -> MaskedLM:
    """A ``MaskedLM`` for the config: continued from ``train.init_preset``, or fresh.

    ``vocabulary`` holds the tokenizer the shards were made with,
    ``config.vocab.tokenizer`` (``cloze.data.tokenizers.tokenizer_files``: a
    ``vocab.txt``, ``spiece.model``, ``vocab.json`` with ``merges.txt``
    beside it, or their directory). A fresh backbone that takes a
    ``pad_token_id`` (RoBERTa's numbers positions around it) gets the
    tokenizer's, unless ``model.options`` sets one.
    """
    tokenizer = load_tokenizer(config.vocab, vocabulary)
    preprocessor = MaskedLMPreprocessor(
        tokenizer, sequence_length=config.data.max_seq_length,
        mask_selection_rate=config.data.masked_lm_prob,
        mask_selection_length=config.data.max_predictions_per_seq,
        mask_token_rate=config.data.mask_token_rate,
        random_token_rate=config.data.random_token_rate)
    policy = config.train.dtype_policy
    if config.train.init_preset:
        backbone = Backbone.from_preset(config.train.init_preset, dtype=policy)
    else:
        backbone_cls = keras.saving.get_registered_object(f"cloze>{config.model.backbone}")
        if backbone_cls is None or not issubclass(backbone_cls, Backbone):
            raise ConfigError(f"model.backbone={config.model.backbone!r} is not a Cloze backbone; "
                              f"expected a class name such as 'BertBackbone'.")
        model = dataclasses.asdict(config.model)
        pad = ({"pad_token_id": tokenizer.pad_token_id}
               if "pad_token_id" in inspect.signature(backbone_cls).parameters else {})
        backbone = backbone_cls(vocabulary_size=tokenizer.vocabulary_size(),
                                **{k: v for k, v in model.items() if k not in ("backbone", "options")},
                                **{**FROM_SCRATCH_OPTIONS.get(config.model.backbone, {}), **pad,
                                   **config.model.options}, dtype=policy)
    return MaskedLM(backbone, preprocessor)


def build_optimizer(config: TrainConfig, total_steps: int):
    """AdamW or LAMB with warmup and (polynomial) decay, clipping and accumulation."""
    schedule = WarmupLinearDecay(config.learning_rate, round(config.warmup_ratio * total_steps),
                                 total_steps, power=config.decay_power)
    common = dict(global_clipnorm=config.clip_norm,
                  gradient_accumulation_steps=(config.gradient_accumulation_steps
                                               if config.gradient_accumulation_steps > 1 else None))
    if config.optimizer == "adamw":
        optimizer = adamw(schedule, weight_decay=config.weight_decay, **common)
    else:
        optimizer = keras.optimizers.Lamb(learning_rate=schedule, epsilon=1e-6, **common)
        optimizer._exclude_from_weight_decay_pattern = NO_DECAY_PATTERN
    if config.dtype_policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compile_options(config: TrainConfig) -> Dict[str, object]:
    """``Model.compile``'s arguments besides the optimizer, as ``train`` passes them.

    ``jit_compile`` is passed explicitly (Keras' ``"auto"`` leaves XLA off on
    CPU); no XLA or TensorFlow flags are set, so nothing leaks into the rest of
    the process. ``bench/train_throughput.py`` compiles Cloze with these too.

    Example:
    >>> compile_options(TrainConfig(steps_per_execution=4))
    {'jit_compile': True, 'steps_per_execution': 4}
    """
    return {"jit_compile": config.jit_compile,
            "steps_per_execution": config.steps_per_execution}


def check_inputs(config: PipelineConfig, train_pattern: str, vocabulary: str, task: MaskedLM,
                 replicas: int) -> None:
    """Catches what would fail mid-run, before the first step, naming what is wrong."""
    files = matching_files(train_pattern)
    backbone = task.backbone
    tokenizer = task.preprocessor.tokenizer
    vocabulary_size = tokenizer.vocabulary_size()
    if backbone.vocabulary_size != vocabulary_size:
        raise ConfigError(f"the backbone has vocabulary_size={backbone.vocabulary_size} but "
                          f"{vocabulary} holds {vocabulary_size} tokens; train with the "
                          f"vocabulary the backbone was trained with.")
    pad_token_id = backbone.get_config().get("pad_token_id", tokenizer.pad_token_id)
    if pad_token_id != tokenizer.pad_token_id:
        raise ConfigError(f"the backbone pads with pad_token_id={pad_token_id} but the "
                          f"vocab.tokenizer={config.vocab.tokenizer!r} tokenizer at {vocabulary} "
                          f"pads with {tokenizer.pad_token_id}; set model.options.pad_token_id="
                          f"{tokenizer.pad_token_id} or train with the backbone's tokenizer.")
    if config.data.max_seq_length > backbone.max_sequence_length:
        raise ConfigError(f"data.max_seq_length={config.data.max_seq_length} exceeds the "
                          f"backbone's max_sequence_length={backbone.max_sequence_length}.")
    layout = RecordLayout.of(files)
    first = next(iter(tf.data.TFRecordDataset(files[:1], compression_type="GZIP")))
    example = tf.train.Example.FromString(first.numpy())
    name = "input_word_ids" if layout.model_garden_names else "input_ids"
    length = len(example.features.feature[name].int64_list.value)
    if length != config.data.max_seq_length:
        raise ConfigError(f"{files[0]}: {name} has length {length} but data.max_seq_length="
                          f"{config.data.max_seq_length}; use the data config the shards "
                          f"were written with.")
    if config.train.batch_size % replicas:
        raise ConfigError(f"train.batch_size={config.train.batch_size} is not divisible by "
                          f"the {replicas} replicas of train.distribution="
                          f"{config.train.distribution!r}.")


def _eval_dataset(pattern, config: PipelineConfig, mask_generator, input_names):
    """The eval batches and their count (None when the eval split is empty)."""
    if not tf.io.gfile.glob(pattern):
        return None, 0
    dataset = masked_lm_dataset(pattern, config.data, config.train.batch_size, training=False,
                                mask_generator=mask_generator, input_names=input_names)
    if config.train.eval_steps:
        dataset = dataset.take(config.train.eval_steps)
    batches = sum(1 for _ in dataset)
    if not batches:
        logging.warning("eval split %s holds no sequences; skipping evaluation", pattern)
        return None, 0
    return dataset, batches


def train(config: PipelineConfig, train_pattern: str, eval_pattern: str, vocabulary: str,
          outputs: TrainingOutputs) -> TrainingResult:
    """Trains a masked LM on the TFRecords and writes the SavedModel, preset, report and logs.

    Checkpoints go to ``outputs.checkpoints`` every ``train.checkpoint_every_steps``
    and at SIGTERM; calling ``train`` again with the same outputs resumes from
    the newest one (weights, optimizer, dropout seeds and data position).

    Example (with shards and a vocabulary from the data stage)::

        result = train(PipelineConfig(), "data/Split-train/*", "data/Split-eval/*",
                       "data/vocab.txt", TrainingOutputs("serving", "preset", "logs"))
        result.history["loss"]  # falls
    """
    train_config = config.train
    # MLM pretraining leaves BERT's pooler unused, by design (it serves sentence tasks).
    warnings.filterwarnings("ignore", message="Gradients do not exist for variables.*pooled_dense")
    keras.utils.set_random_seed(train_config.seed)
    strategy = distribution_strategy(train_config)
    replicated = strategy.num_replicas_in_sync > 1
    if replicated and train_config.steps_per_execution > 1:
        # Keras 3.12's multi-step loop fails under tf.distribute ("must feed a value
        # for placeholder"); one step per call is the working configuration.
        logging.warning("train.steps_per_execution=%d runs as 1 under %d replicas",
                        train_config.steps_per_execution, strategy.num_replicas_in_sync)
        train_config = dataclasses.replace(train_config, steps_per_execution=1)
    schedule = Schedule.of(train_config)
    with strategy.scope():
        task = build_task(config, vocabulary)
        check_inputs(config, train_pattern, vocabulary, task, strategy.num_replicas_in_sync)
        task.compile(optimizer=build_optimizer(train_config, schedule.total),
                     **compile_options(train_config))
        task.optimizer.build(task.trainable_variables)
    # Keras' fit cannot run multi-worker training (docs/training.md); this loop can.
    runner = MultiWorkerLoop(task, strategy) if is_multi_worker(strategy) else task
    # Workers other than the chief save too (tf.distribute wants every worker to), into
    # scratch removed when `train` ends, however it ends, and resume from the chief's
    # checkpoints.
    with contextlib.ExitStack() as stack:
        writes = outputs
        if not is_chief(strategy):
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="cloze-worker-"))
            writes = TrainingOutputs(*(os.path.join(scratch, part)
                                       for part in ("serving", "preset", "logs")))
        checkpoint = TrainingCheckpoint(outputs.checkpoints, writes.checkpoints)
        state = checkpoint.restore(task)
        start, history = state["batches"], state["history"]
        mask_generator, input_names = task.preprocessor.mask_generator, list(task.input)
        eval_data, eval_batches = _eval_dataset(eval_pattern, config, mask_generator, input_names)
        # Distributed eval splits batches across replicas; let it run to the end of the data.
        eval_steps = None if replicated else eval_batches or None
        resilience = Resilience(checkpoint, start, schedule.total, schedule.steps_per_epoch,
                                schedule.checkpoint_every, history)
        throughput = Throughput(train_config.batch_size * config.data.max_seq_length)
        if start < schedule.total:
            if start:
                print(f"cloze [train] resuming at step {start} from {checkpoint.directory}",
                      flush=True)
            train_data = masked_lm_dataset(
                train_pattern, config.data, train_config.batch_size, training=True,
                seed=train_config.seed, skip_batches=start, mask_generator=mask_generator,
                input_names=input_names)
            started = time.perf_counter()
            runner.fit(train_data, steps_per_epoch=schedule.steps_per_epoch,
                       epochs=math.ceil((schedule.total - start) / schedule.steps_per_epoch),
                       validation_data=eval_data, validation_steps=eval_steps, verbose=2,
                       callbacks=[resilience, throughput, keras.callbacks.TensorBoard(
                           os.path.join(writes.log_dir, "tensorboard"))])
            if resilience.preempted:
                raise TrainingPreempted(
                    f"stopped by SIGTERM after step {resilience.batches}; checkpoint in "
                    f"{checkpoint.directory}: run the same command again to resume.")
            logging.info("trained %d steps in %.1fs", resilience.batches - start,
                         time.perf_counter() - started)
        eval_loss = eval_accuracy = None
        if eval_data is not None:
            eval_loss, eval_accuracy = runner.evaluate(eval_data, steps=eval_steps, verbose=0)
        speed = (sum(throughput.tokens_per_second[1:]) / len(throughput.tokens_per_second[1:])
                 if len(throughput.tokens_per_second) > 1 else None)
        result = TrainingResult(steps=history.get("step", []),
                                history={k: v for k, v in history.items() if k != "step"},
                                eval_loss=eval_loss, eval_accuracy=eval_accuracy,
                                tokens_per_second=speed, replicas=strategy.num_replicas_in_sync)
        _write_outputs(task, config, result, writes)
        return result


def _write_outputs(task, config: PipelineConfig, result: TrainingResult,
                   outputs: TrainingOutputs) -> None:
    task.save_to_preset(outputs.preset_dir)
    export_saved_model(task, outputs.serving_dir)
    for directory in (outputs.preset_dir, outputs.log_dir):
        tf.io.gfile.makedirs(directory)
        with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE), "w") as f:
            f.write(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    with tf.io.gfile.GFile(os.path.join(outputs.log_dir, RESULT_FILE), "w") as f:
        f.write(result.to_json())
    write_training_report(outputs.log_dir, {"step": result.steps, **result.history},
                          config.to_dict(), {"tokens_per_second": result.tokens_per_second})
