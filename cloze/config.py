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
import os
import re
import typing
from typing import Any, Dict, Optional, Tuple

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PACKINGS = ("full_sentences", "sentences", "doc_pairs")
TOKENIZERS = ("wordpiece", "sentencepiece", "byte_bpe")


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
        text_field: the field that holds a document's text: the JSON Lines key,
            the CSV or Parquet column, the ``tf.train.Example`` bytes feature.
        on_invalid_utf8: ``"fail"`` stops with an error naming file and line;
            ``"skip"`` skips the document and counts it; ``"replace"`` keeps
            it with U+FFFD in place of the bad bytes.
        default_corpus_bytes: size cap of the built-in default corpus.
        one_document_per_line: plain text holds one document per line instead
            of blank-line-separated documents.
        normalization: Unicode normal form applied to every document,
            ``"none"``, ``"NFC"`` or ``"NFKC"``.
        lower_case: lower-case every document.
        strip_accents: remove combining accents (after NFD) from every document.
        clean_whitespace: collapse runs of spaces and tabs to one space, drop
            trailing spaces on a line and control characters other than
            ``\\n`` and ``\\t``.
        deduplicate: keep one of each set of documents with identical text
            (after normalisation), the one with the smallest id.
        max_document_bytes: documents larger than this (UTF-8 bytes) are
            skipped and counted.
    """

    paths: Tuple[str, ...] = ()
    text_field: str = "text"
    on_invalid_utf8: str = "fail"
    default_corpus_bytes: int = 3_000_000
    one_document_per_line: bool = False
    normalization: str = "none"
    lower_case: bool = False
    strip_accents: bool = False
    clean_whitespace: bool = False
    deduplicate: bool = False
    max_document_bytes: int = 10_000_000

    def __post_init__(self):
        object.__setattr__(self, "paths", tuple(self.paths))
        _check(self.on_invalid_utf8 in ("fail", "skip", "replace"), "corpus.on_invalid_utf8",
               self.on_invalid_utf8, "'fail', 'skip' or 'replace'")
        _check(bool(self.text_field), "corpus.text_field", self.text_field, "a field name")
        _check(self.default_corpus_bytes > 0, "corpus.default_corpus_bytes",
               self.default_corpus_bytes, "a positive byte count")
        _check(self.normalization in ("none", "NFC", "NFKC"), "corpus.normalization",
               self.normalization, "'none', 'NFC' or 'NFKC'")
        _check(self.max_document_bytes > 0, "corpus.max_document_bytes",
               self.max_document_bytes, "a positive byte count")


@dataclasses.dataclass(frozen=True)
class VocabConfig:
    """The tokenizer and its vocabulary: learned from the corpus, or given as files.

    Args:
        vocab_size: the target size when learning (an upper bound).
        vocab_file: the tokenizer to use instead of learning one, as ``tokenizer``
            says: a ``vocab.txt``, an ``spiece.model``, or a ``vocab.json`` with
            ``merges.txt`` beside it.
        lower_case: lower-case (and for WordPiece strip accents, as uncased
            BERT) before tokenizing; byte-level BPE ignores it (cased, as RoBERTa).
        tokenizer: ``"wordpiece"`` (BERT, ``vocab.txt``), ``"sentencepiece"``
            (ALBERT's layout, ``spiece.model``) or ``"byte_bpe"`` (RoBERTa's
            byte-level BPE, ``vocab.json`` and ``merges.txt``); see
            ``cloze/data/tokenizers.py``.
    """

    vocab_size: int = 8000
    vocab_file: Optional[str] = None
    lower_case: bool = True
    tokenizer: str = "wordpiece"

    def __post_init__(self):
        _check(self.vocab_size >= 2 * len(SPECIAL_TOKENS), "vocab.vocab_size",
               self.vocab_size, f"at least {2 * len(SPECIAL_TOKENS)}")
        _check(self.tokenizer in TOKENIZERS, "vocab.tokenizer", self.tokenizer,
               f"one of {list(TOKENIZERS)}")


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
        num_shards: TFRecord shards per split; a shard is sorted in one
            worker's memory before it is written, so give large corpora many.
        seed: the seed of every random choice; the same seed gives the same data.
        packing: ``"full_sentences"`` (RoBERTa: contiguous sentences packed up
            to the length across documents, ``[SEP]`` between documents),
            ``"sentences"`` (one document per sequence, long ones split) or
            ``"doc_pairs"`` (BERT's segments A and B with a pair label).
        packing_buckets: ``full_sentences`` packs each block of documents
            (``data.blocks``) in place and groups the blocks' unfinished tails,
            ``doc_pairs`` every document, into this many buckets by a hash of
            their id; ``doc_pairs`` packs a bucket in one worker's memory and
            draws random next segments from the same bucket.
        short_seq_prob: ``doc_pairs``: the share of documents whose pairs aim
            at a random shorter length, as BERT.
        pair_task: ``doc_pairs``: ``"next_sentence"`` (BERT: label 1 when
            segment B is from another document) or ``"sentence_order"``
            (ALBERT: label 1 when A and B are swapped).
        dupe_factor: copies of the data, each with different masks (and, for
            ``doc_pairs``, different pairs).
        masking: ``"static"`` masks in the data stage; ``"none"`` writes
            unmasked sequences for dynamic masking in the trainer.
        whole_word_masking: choose whole words (a token and its ``##`` pieces).
        max_ngram: choose n-grams of up to this many words (or tokens), shorter
            ones likelier (ALBERT's 1/n weights); 1 turns n-grams off.
        feature_names: ``"bert"`` (``input_ids``, ``segment_ids``) or
            ``"model_garden"`` (``input_word_ids``, ``input_type_ids``, as TF
            Model Garden's ``use_v2_feature_names``).
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    eval_percent: int = 5
    num_shards: int = 2
    seed: int = 12345
    packing: str = "full_sentences"
    packing_buckets: int = 64
    short_seq_prob: float = 0.1
    pair_task: str = "next_sentence"
    dupe_factor: int = 1
    masking: str = "static"
    whole_word_masking: bool = False
    max_ngram: int = 1
    feature_names: str = "bert"

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
        _check(self.packing in PACKINGS, "data.packing", self.packing, " or ".join(PACKINGS))
        _check(self.packing_buckets >= 1, "data.packing_buckets", self.packing_buckets, ">= 1")
        _check(0.0 <= self.short_seq_prob <= 1.0, "data.short_seq_prob", self.short_seq_prob,
               "a probability in [0, 1]")
        _check(self.pair_task in ("next_sentence", "sentence_order"), "data.pair_task",
               self.pair_task, "'next_sentence' or 'sentence_order'")
        _check(self.dupe_factor >= 1, "data.dupe_factor", self.dupe_factor, ">= 1")
        _check(self.masking in ("static", "none"), "data.masking", self.masking,
               "'static' or 'none'")
        _check(self.max_ngram >= 1, "data.max_ngram", self.max_ngram, ">= 1")
        _check(self.feature_names in ("bert", "model_garden"), "data.feature_names",
               self.feature_names, "'bert' or 'model_garden'")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The backbone's architecture.

    Args:
        backbone: a Cloze backbone class name (``BertBackbone``, ``AlbertBackbone``, ...).
        num_layers, num_heads, hidden_dim, intermediate_dim, dropout,
            max_sequence_length: the arguments every BERT-family backbone shares.
        options: further constructor arguments of that backbone, e.g.
            ``{"embedding_dim": 128, "num_groups": 1}`` for ALBERT.
    """

    backbone: str = "BertBackbone"
    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 128
    intermediate_dim: int = 512
    dropout: float = 0.1
    max_sequence_length: int = 512
    options: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        _check(self.num_layers >= 1, "model.num_layers", self.num_layers, ">= 1")
        _check(self.num_heads >= 1 and self.hidden_dim % self.num_heads == 0,
               "model.num_heads", self.num_heads,
               f"a divisor of model.hidden_dim={self.hidden_dim}")
        _check(self.intermediate_dim >= 1, "model.intermediate_dim", self.intermediate_dim, ">= 1")
        _check(0.0 <= self.dropout < 1.0, "model.dropout", self.dropout, "a rate in [0, 1)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, precision, distribution and checkpointing of one training run.

    Args:
        batch_size: sequences per step (global, across replicas).
        train_steps: optimizer steps.
        eval_steps: eval batches (0: the whole eval split).
        optimizer: ``"adamw"`` or ``"lamb"``; neither decays norms and biases.
        learning_rate: peak learning rate.
        warmup_ratio: share of the steps spent in linear warmup.
        decay_power: shape of the decay to 0 after warmup: 1.0 linear, other
            values polynomial (BERT's polynomial decay with power 1.0 is linear).
        weight_decay: decoupled weight decay.
        clip_norm: global gradient-norm clipping (None: off).
        gradient_accumulation_steps: batches whose gradients are summed per update.
        dtype_policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``
            (with dynamic loss scaling).
        steps_per_execution: steps run per call into the compiled graph.
        jit_compile: ``true`` compiles the whole train step with XLA (Keras'
            ``"auto"`` would turn it off on CPU and under tf.distribute);
            ``false`` runs TensorFlow's graph kernels (oneDNN on CPU). XLA was
            the faster on CPU for BERT-tiny and BERT-small (docs/training.md).
        distribution: ``"auto"`` (mirrored over all local GPUs when there are
            several, else none), ``"none"``, ``"mirrored"``, ``"multi_worker"``
            (``MultiWorkerMirroredStrategy`` over the ``TF_CONFIG`` cluster, see
            docs/training.md) or ``"tpu"`` (with
            ``tpu_address``).
        tpu_address: the TPU name or grpc address for ``distribution="tpu"``.
        checkpoint_every_steps: checkpoint cadence (0: at every log point).
        init_preset: a preset directory (or ``hf://`` handle) to continue from
            instead of random weights.
        seed: weight initialisation, dropout and data-order seed.
    """

    batch_size: int = 32
    train_steps: int = 400
    eval_steps: int = 0
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    decay_power: float = 1.0
    weight_decay: float = 0.01
    clip_norm: Optional[float] = 1.0
    gradient_accumulation_steps: int = 1
    dtype_policy: str = "float32"
    steps_per_execution: int = 10
    jit_compile: bool = True
    distribution: str = "auto"
    tpu_address: Optional[str] = None
    checkpoint_every_steps: int = 0
    init_preset: Optional[str] = None
    seed: int = 0

    def __post_init__(self):
        _check(self.batch_size >= 1, "train.batch_size", self.batch_size, ">= 1")
        _check(self.train_steps >= 1, "train.train_steps", self.train_steps, ">= 1")
        _check(self.eval_steps >= 0, "train.eval_steps", self.eval_steps, ">= 0")
        _check(self.optimizer in ("adamw", "lamb"), "train.optimizer", self.optimizer,
               "'adamw' or 'lamb'")
        _check(self.learning_rate > 0, "train.learning_rate", self.learning_rate, "> 0")
        _check(0.0 <= self.warmup_ratio < 1.0, "train.warmup_ratio", self.warmup_ratio,
               "a share in [0, 1)")
        _check(self.decay_power > 0, "train.decay_power", self.decay_power, "> 0")
        _check(self.clip_norm is None or self.clip_norm > 0, "train.clip_norm", self.clip_norm,
               "None or > 0")
        _check(self.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps",
               self.gradient_accumulation_steps, ">= 1")
        _check(self.dtype_policy in ("float32", "mixed_bfloat16", "mixed_float16"),
               "train.dtype_policy", self.dtype_policy,
               "'float32', 'mixed_bfloat16' or 'mixed_float16'")
        _check(self.steps_per_execution >= 1, "train.steps_per_execution",
               self.steps_per_execution, ">= 1")
        _check(isinstance(self.jit_compile, bool), "train.jit_compile", self.jit_compile,
               "true (XLA) or false (no XLA)")
        _check(self.distribution in ("auto", "none", "mirrored", "multi_worker", "tpu"),
               "train.distribution", self.distribution,
               "'auto', 'none', 'mirrored', 'multi_worker' or 'tpu'")
        _check(self.distribution != "tpu" or bool(self.tpu_address), "train.tpu_address",
               self.tpu_address, "a TPU name or address when train.distribution='tpu'")
        _check(self.checkpoint_every_steps >= 0, "train.checkpoint_every_steps",
               self.checkpoint_every_steps, ">= 0")


def _is_optional_number(value: Any, low: float, high: float = float("inf")) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and low <= value <= high)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """When the Evaluator blesses a model; a threshold of None turns its check off.

    Args:
        max_perplexity: the highest eval perplexity allowed (the exponential of
            the masked-LM loss, so this caps the loss at ``log(max_perplexity)``).
        min_accuracy: the lowest masked-token accuracy allowed.
        min_top5_accuracy: the lowest top-5 accuracy allowed.
        max_loss_increase: how far (nats) the eval loss may be above the last
            blessed model's on the same examples; 0 means "no worse than it";
            None blesses without comparing.
        batch_size: eval examples per call into the SavedModel.

    Example:
    >>> EvalConfig(min_accuracy=0.3).min_accuracy
    0.3
    >>> EvalConfig(min_accuracy=30)
    Traceback (most recent call last):
    ...
    cloze.config.ConfigError: eval.min_accuracy=30 is invalid: expected null or a share in [0, 1].
    """

    max_perplexity: Optional[float] = None
    min_accuracy: Optional[float] = None
    min_top5_accuracy: Optional[float] = None
    max_loss_increase: Optional[float] = 0.0
    batch_size: int = 64

    def __post_init__(self):
        _check(_is_optional_number(self.max_perplexity, 1.0), "eval.max_perplexity",
               self.max_perplexity, "null or a perplexity >= 1")
        for name in ("min_accuracy", "min_top5_accuracy"):
            _check(_is_optional_number(getattr(self, name), 0.0, 1.0), f"eval.{name}",
                   getattr(self, name), "null or a share in [0, 1]")
        _check(_is_optional_number(self.max_loss_increase, 0.0), "eval.max_loss_increase",
               self.max_loss_increase, "null or a non-negative loss difference in nats")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 1, "eval.batch_size",
               self.batch_size, "an integer >= 1")


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Where the Pusher puts a blessed model for TF Serving.

    Args:
        model_name: the TF Serving model name: versions go to
            ``<push_base>/<model_name>/<version>/`` and are served at
            ``/v1/models/<model_name>``.
        push_base: the directory above the model-name directory, on any
            filesystem TensorFlow writes (``gs://`` too). None: ``<output>/serving``
            for ``cloze run`` and Airflow, ``<pipeline root>/serving`` for a
            compiled pipeline.

    Example:
    >>> ServingConfig(model_name="cloze-en").model_name
    'cloze-en'
    >>> ServingConfig(model_name="my model")
    Traceback (most recent call last):
    ...
    cloze.config.ConfigError: serving.model_name='my model' is invalid: expected letters, \
digits, '.', '_' or '-', starting with a letter or digit (it names a directory and a URL path).
    """

    model_name: str = "cloze"
    push_base: Optional[str] = None

    def __post_init__(self):
        _check(isinstance(self.model_name, str)
               and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.model_name) is not None,
               "serving.model_name", self.model_name,
               "letters, digits, '.', '_' or '-', starting with a letter or digit "
               "(it names a directory and a URL path)")
        _check(self.push_base is None or (isinstance(self.push_base, str) and self.push_base),
               "serving.push_base", self.push_base, "null or a directory")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything one Cloze run needs, from corpus to exported model."""

    name: str = "cloze"
    corpus: CorpusConfig = CorpusConfig()
    vocab: VocabConfig = VocabConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    serving: ServingConfig = ServingConfig()

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

    def with_absolute_paths(self, base_dir: str) -> "PipelineConfig":
        """This config with its relative local paths made absolute against ``base_dir``.

        ``corpus.paths``, ``vocab.vocab_file``, ``serving.push_base``, and
        ``train.init_preset`` when it names a directory under ``base_dir`` (not
        a built-in preset name or an ``hf://`` handle). Paths with a scheme
        (``gs://``) and absolute paths stay as they are. A scheduled run's
        steps start in other directories, so ``cloze`` and the Airflow DAG
        resolve a config file's paths against its directory and ``cloze``'s
        flags against the working directory.

        Example:
        >>> config = PipelineConfig(corpus=CorpusConfig(paths=("texts/", "gs://b/t")))
        >>> config.with_absolute_paths("/home/me").corpus.paths
        ('/home/me/texts/', 'gs://b/t')
        """
        def absolute(path):
            local = path is not None and "://" not in path
            return os.path.join(base_dir, path) if local else path

        preset = self.train.init_preset
        if preset is not None and os.path.isdir(absolute(preset)):
            preset = absolute(preset)
        return dataclasses.replace(
            self,
            corpus=dataclasses.replace(self.corpus,
                                       paths=tuple(absolute(p) for p in self.corpus.paths)),
            vocab=dataclasses.replace(self.vocab, vocab_file=absolute(self.vocab.vocab_file)),
            train=dataclasses.replace(self.train, init_preset=preset),
            serving=dataclasses.replace(self.serving, push_base=absolute(self.serving.push_base)))


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
