"""Configuration dataclasses that flow from the CLI through the pipeline to the model.

Every stage takes one frozen dataclass. ``PipelineConfig`` bundles them and
round-trips through JSON, so the exact configuration travels as a TFX execution
parameter and is saved next to the data and the model.

Example:
>>> from cloze.config import PipelineConfig
>>> config = PipelineConfig.from_dict({"data": {"max_seq_length": 64}})
>>> config.data.max_seq_length
64
>>> PipelineConfig.from_json(config.to_json()) == config
True
"""
from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Optional, Tuple

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


def _check(condition: bool, field: str, value: Any, expected: str) -> None:
    if not condition:
        raise ConfigError(f"{field}={value!r} is invalid: expected {expected}.")


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    """Where the raw text is and how to read it.

    Args:
        paths: files, directories or globs (any filesystem Beam can read).
            Empty means the built-in default corpus.
        text_field: the JSON Lines field that holds a document's text.
        on_invalid_utf8: ``"fail"`` stops with an error naming file and line;
            ``"skip"`` skips the document and counts it.
        default_corpus_bytes: size cap of the built-in default corpus.
    """

    paths: Tuple[str, ...] = ()
    text_field: str = "text"
    on_invalid_utf8: str = "fail"
    default_corpus_bytes: int = 3_000_000

    def __post_init__(self):
        object.__setattr__(self, "paths", tuple(self.paths))
        _check(self.on_invalid_utf8 in ("fail", "skip"), "corpus.on_invalid_utf8",
               self.on_invalid_utf8, "'fail' or 'skip'")
        _check(bool(self.text_field), "corpus.text_field", self.text_field, "a field name")
        _check(self.default_corpus_bytes > 0, "corpus.default_corpus_bytes",
               self.default_corpus_bytes, "a positive byte count")


@dataclasses.dataclass(frozen=True)
class VocabConfig:
    """The WordPiece vocabulary: learned from the corpus, or given as ``vocab.txt``.

    Args:
        vocab_size: the target size when learning (an upper bound).
        vocab_file: a ``vocab.txt`` to use instead of learning one.
        lower_case: lower-case and strip accents before WordPiece (uncased BERT).
    """

    vocab_size: int = 8000
    vocab_file: Optional[str] = None
    lower_case: bool = True

    def __post_init__(self):
        _check(self.vocab_size >= 2 * len(SPECIAL_TOKENS), "vocab.vocab_size",
               self.vocab_size, f"at least {2 * len(SPECIAL_TOKENS)}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How documents become masked training sequences (BERT's names).

    Args:
        max_seq_length: tokens per sequence including ``[CLS]`` and ``[SEP]``.
        max_predictions_per_seq: the most masked positions in one sequence.
        masked_lm_prob: the share of maskable tokens chosen for prediction.
        mask_token_rate: of the chosen tokens, the share replaced by ``[MASK]``.
        random_token_rate: of the chosen tokens, the share replaced by a random
            token; the rest keep their token.
        eval_percent: the share of documents, by a hash of their id, that go to
            the eval split.
        num_shards: TFRecord shards per split.
        seed: the seed of every random choice; the same seed gives the same data.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    eval_percent: int = 5
    num_shards: int = 2
    seed: int = 12345

    def __post_init__(self):
        _check(self.max_seq_length >= 8, "data.max_seq_length", self.max_seq_length, ">= 8")
        _check(0 < self.max_predictions_per_seq <= self.max_seq_length - 2,
               "data.max_predictions_per_seq", self.max_predictions_per_seq,
               f"between 1 and max_seq_length - 2 = {self.max_seq_length - 2}")
        _check(0.0 < self.masked_lm_prob < 1.0, "data.masked_lm_prob",
               self.masked_lm_prob, "a rate in (0, 1)")
        _check(0.0 <= self.mask_token_rate and 0.0 <= self.random_token_rate
               and self.mask_token_rate + self.random_token_rate <= 1.0,
               "data.mask_token_rate + data.random_token_rate",
               (self.mask_token_rate, self.random_token_rate), "non-negative rates summing to <= 1")
        _check(0 <= self.eval_percent < 100, "data.eval_percent", self.eval_percent, "0..99")
        _check(self.num_shards >= 1, "data.num_shards", self.num_shards, ">= 1")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The BERT backbone's architecture (keras-hub's ``BertBackbone`` arguments)."""

    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 128
    intermediate_dim: int = 512
    dropout: float = 0.1
    max_sequence_length: int = 512

    def __post_init__(self):
        _check(self.num_layers >= 1, "model.num_layers", self.num_layers, ">= 1")
        _check(self.num_heads >= 1 and self.hidden_dim % self.num_heads == 0,
               "model.num_heads", self.num_heads,
               f"a divisor of model.hidden_dim={self.hidden_dim}")
        _check(self.intermediate_dim >= 1, "model.intermediate_dim", self.intermediate_dim, ">= 1")
        _check(0.0 <= self.dropout < 1.0, "model.dropout", self.dropout, "a rate in [0, 1)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation: AdamW with linear warmup then linear decay.

    Args:
        batch_size: sequences per step.
        train_steps: optimizer steps.
        eval_steps: eval batches (0: the whole eval split).
        learning_rate: peak learning rate.
        warmup_ratio: share of the steps spent in linear warmup.
        weight_decay: decoupled weight decay (not on norms and biases).
        steps_per_execution: steps run per call into the compiled graph.
        jit_compile: compile the train step with XLA.
        seed: weight initialisation and dropout seed.
    """

    batch_size: int = 32
    train_steps: int = 400
    eval_steps: int = 0
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    steps_per_execution: int = 10
    jit_compile: bool = True
    seed: int = 0

    def __post_init__(self):
        _check(self.batch_size >= 1, "train.batch_size", self.batch_size, ">= 1")
        _check(self.train_steps >= 1, "train.train_steps", self.train_steps, ">= 1")
        _check(self.eval_steps >= 0, "train.eval_steps", self.eval_steps, ">= 0")
        _check(self.learning_rate > 0, "train.learning_rate", self.learning_rate, "> 0")
        _check(0.0 <= self.warmup_ratio < 1.0, "train.warmup_ratio", self.warmup_ratio,
               "a share in [0, 1)")
        _check(self.steps_per_execution >= 1, "train.steps_per_execution",
               self.steps_per_execution, ">= 1")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything one Cloze run needs, from corpus to exported model."""

    name: str = "cloze"
    corpus: CorpusConfig = CorpusConfig()
    vocab: VocabConfig = VocabConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        _check(self.data.max_seq_length <= self.model.max_sequence_length,
               "data.max_seq_length", self.data.max_seq_length,
               f"<= model.max_sequence_length={self.model.max_sequence_length}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "PipelineConfig":
        return _from_dict(cls, values, prefix="")

    @classmethod
    def from_json(cls, text: str) -> "PipelineConfig":
        return cls.from_dict(json.loads(text))


def _from_dict(cls, values: dict, prefix: str):
    """Builds dataclass ``cls`` from nested dicts, rejecting unknown fields by name."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {values!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(prefix + u for u in unknown)}; "
            f"known: {', '.join(prefix + f for f in sorted(fields))}.")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = _from_dict(hint, value, prefix=f"{prefix}{name}.")
        kwargs[name] = value
    return cls(**kwargs)
