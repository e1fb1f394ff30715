"""Masked-LM metrics on masked eval examples, computed through the exported SavedModel."""
import dataclasses
import math
from typing import Iterable, List, Optional

import tensorflow as tf
import tensorflow_text  # noqa: F401  (SentencePiece models' text signatures use its ops)

from cloze.export.saved_model import TF_EXAMPLE_SIGNATURE
from cloze.export.serving import read_records

TOP_K = 5


@dataclasses.dataclass(frozen=True)
class MaskedLmMetrics:
    """Weighted over every masked position of the eval split.

    Args:
        loss: mean cross-entropy (nats) of the original token.
        perplexity: ``exp(loss)``.
        accuracy: share of positions whose top prediction is the original token.
        top5_accuracy: share whose original token is among the top 5.
        num_predictions: the masked positions counted (weight sum).
        num_examples: the sequences read.
    """

    loss: float
    perplexity: float
    accuracy: float
    top5_accuracy: float
    num_predictions: float
    num_examples: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "MaskedLmMetrics":
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})


class MetricSums:
    """Accumulates weighted loss and hits over batches of logits.

    Example:
    >>> import numpy as np
    >>> sums = MetricSums()
    >>> logits = np.log([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]])
    >>> sums.add(logits, labels=[[0, 1]], weights=[[1.0, 1.0]])
    >>> metrics = sums.result()
    >>> round(metrics.loss, 4), metrics.accuracy, metrics.top5_accuracy
    (0.7803, 0.5, 1.0)
    """

    def __init__(self):
        self.loss = self.hits = self.top_k_hits = self.weight = 0.0
        self.examples = 0

    def add(self, logits, labels, weights) -> None:
        """Adds one batch: ``logits`` ``(batch, masks, vocabulary)``, ``labels`` and
        ``weights`` ``(batch, masks)``."""
        logits = tf.cast(logits, tf.float32)
        labels = tf.cast(labels, tf.int32)
        weights = tf.cast(weights, tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        k = min(TOP_K, logits.shape[-1])
        top_k = tf.math.in_top_k(tf.reshape(labels, [-1]),
                                 tf.reshape(logits, [-1, logits.shape[-1]]), k)
        top_k = tf.reshape(tf.cast(top_k, tf.float32), tf.shape(labels))
        self.loss += float(tf.reduce_sum(losses * weights))
        self.hits += float(tf.reduce_sum(hits * weights))
        self.top_k_hits += float(tf.reduce_sum(top_k * weights))
        self.weight += float(tf.reduce_sum(weights))
        self.examples += int(labels.shape[0])

    def result(self) -> MaskedLmMetrics:
        """The metrics so far; ``ValueError`` when no masked position was seen."""
        if not self.weight:
            raise ValueError(f"no masked positions in {self.examples} examples: the eval "
                             "split must hold statically masked examples "
                             "(data.masking='static') with masked_lm_weights > 0")
        loss = self.loss / self.weight
        return MaskedLmMetrics(loss=loss, perplexity=math.exp(loss),
                               accuracy=self.hits / self.weight,
                               top5_accuracy=self.top_k_hits / self.weight,
                               num_predictions=self.weight, num_examples=self.examples)


def parse_labels(serialized, num_masks: int):
    """The labels of serialized examples: ``masked_lm_ids`` and ``masked_lm_weights``,
    padded to ``num_masks``."""
    parsed = tf.io.parse_example(serialized, {
        "masked_lm_ids": tf.io.RaggedFeature(tf.int64),
        "masked_lm_weights": tf.io.RaggedFeature(tf.float32)})
    return (parsed["masked_lm_ids"].to_tensor(shape=[None, num_masks]),
            parsed["masked_lm_weights"].to_tensor(shape=[None, num_masks]))


def _batches(records: Iterable[bytes], batch_size: int) -> Iterable[List[bytes]]:
    batch = []
    for record in records:
        batch.append(record)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate_saved_model(saved_model_dir: str, examples_pattern: str, batch_size: int = 64,
                         max_examples: Optional[int] = None) -> MaskedLmMetrics:
    """Masked-LM metrics of a SavedModel's ``tf_example`` signature on masked examples.

    Loads with ``tf.saved_model.load`` (TFMA cannot load Keras 3 SavedModels).

    Example (with a model and eval shards from ``cloze run``)::

        evaluate_saved_model("model/Format-Serving", "examples/Split-eval/*").perplexity
    """
    loaded = tf.saved_model.load(saved_model_dir)
    if TF_EXAMPLE_SIGNATURE not in loaded.signatures:
        raise ValueError(f"SavedModel {saved_model_dir} has no {TF_EXAMPLE_SIGNATURE!r} "
                         f"signature; it has {sorted(loaded.signatures)}")
    signature = loaded.signatures[TF_EXAMPLE_SIGNATURE]
    sums = MetricSums()
    for batch in _batches(read_records(examples_pattern, max_examples), batch_size):
        serialized = tf.constant(batch)
        logits = signature(examples=serialized)["logits"]
        labels, weights = parse_labels(serialized, logits.shape[1])
        sums.add(logits, labels, weights)
    return sums.result()
