"""Offline batch scoring of a corpus with a SavedModel, in Beam (``cloze score``).

``ScoreCorpus`` reads documents with the data stage's ``ReadCorpus``, batches
them and runs Beam's ``RunInference`` with ``SavedModelHandler``, which loads the
model with ``tf.saved_model.load`` (Beam's stock TensorFlow handler cannot load
Keras 3 SavedModels). Per document it writes the pseudo-log-likelihood,
pseudo-perplexity and masked accuracy (every token masked in turn); per prompt
the fill-mask predictions. Runs on any Beam runner (DirectRunner by default;
Dataflow, Flink or Spark through pipeline options).
"""
import json
import math
import os
from typing import Any, Dict, Iterable, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import (KeyedModelHandler, ModelHandler, PredictionResult,
                                           RunInference)

from cloze.config import CorpusConfig
from cloze.data.corpus import ReadCorpus
from cloze.export.saved_model import FILL_MASK_SIGNATURE, SCORE_SIGNATURE

DOCUMENTS_FILE = "documents"
PROMPTS_FILE = "prompts"
FORMATS = ("jsonl", "parquet")


class SavedModelHandler(ModelHandler[str, PredictionResult, Any]):
    """RunInference handler: batches of strings into one text signature of a SavedModel.

    Args:
        saved_model_dir: the SavedModel (any file system TensorFlow reads).
        signature: a signature whose one input is ``texts`` ``(batch,)``.
        max_batch_size: texts per call.

    Example:
    >>> handler = SavedModelHandler("model/", "fill_mask", max_batch_size=4)
    >>> handler.batch_elements_kwargs()
    {'max_batch_size': 4}
    """

    def __init__(self, saved_model_dir: str, signature: str, max_batch_size: int = 8):
        super().__init__()
        self._saved_model_dir = saved_model_dir
        self._signature = signature
        self._max_batch_size = max_batch_size

    def load_model(self):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (SentencePiece models' text signatures use its ops)

        loaded = tf.saved_model.load(self._saved_model_dir)
        if self._signature not in loaded.signatures:
            raise ValueError(f"SavedModel {self._saved_model_dir} has no {self._signature!r} "
                             f"signature; it has {sorted(loaded.signatures)}")
        return loaded

    def run_inference(self, batch: Sequence[str], model, inference_args=None
                      ) -> Iterable[PredictionResult]:
        import tensorflow as tf

        outputs = model.signatures[self._signature](texts=tf.constant(list(batch)))
        outputs = {name: value.numpy() for name, value in outputs.items()}
        for i, text in enumerate(batch):
            yield PredictionResult(text, {name: value[i] for name, value in outputs.items()})

    def batch_elements_kwargs(self) -> Dict[str, int]:
        return {"max_batch_size": self._max_batch_size}

    def share_model_across_processes(self) -> bool:
        return False


def document_scores(doc_id: str, outputs: Dict[str, np.ndarray]) -> dict:
    """One output row from the ``pseudo_log_likelihood`` signature's outputs for one text.

    Example:
    >>> document_scores("a.txt:1", {"log_likelihood": np.float32(-4.0),
    ...                             "num_tokens": np.int32(2), "num_correct": np.int32(1)})
    {'id': 'a.txt:1', 'num_tokens': 2, 'pseudo_log_likelihood': -4.0, \
'pseudo_perplexity': 7.38905609893065, 'masked_accuracy': 0.5}
    """
    tokens = int(outputs["num_tokens"])
    log_likelihood = float(outputs["log_likelihood"])
    return {
        "id": doc_id,
        "num_tokens": tokens,
        "pseudo_log_likelihood": log_likelihood,
        "pseudo_perplexity": math.exp(-log_likelihood / tokens) if tokens else None,
        "masked_accuracy": int(outputs["num_correct"]) / tokens if tokens else None,
    }


def prompt_fills(prompt: str, outputs: Dict[str, np.ndarray], top_k: int) -> dict:
    """One output row from the ``fill_mask`` signature's outputs for one prompt."""
    fills = [[{"token": token.decode("utf-8"), "score": float(score)}
              for token, score in zip(tokens[:top_k], scores[:top_k])]
             for tokens, scores, weight in zip(outputs["tokens"], outputs["scores"],
                                               outputs["mask_weights"]) if weight]
    return {"prompt": prompt, "fills": fills}


class _ScoreDocumentsFn(beam.DoFn):
    """(document id, PredictionResult) -> a score row, counting documents scored and empty."""

    def __init__(self):
        self.scored = beam.metrics.Metrics.counter("cloze", "documents_scored")
        self.empty = beam.metrics.Metrics.counter("cloze", "documents_without_tokens")

    def process(self, keyed):
        doc_id, result = keyed
        row = document_scores(doc_id, result.inference)
        (self.scored if row["num_tokens"] else self.empty).inc()
        yield row


class _WriteRows(beam.PTransform):
    """Dict rows to one JSON Lines or Parquet file, ``<path>.jsonl`` or ``<path>.parquet``."""

    def __init__(self, path: str, output_format: str, schema=None):
        super().__init__()
        self._path, self._format, self._schema = path, output_format, schema

    def expand(self, rows):
        if self._format == "parquet":
            return rows | beam.io.WriteToParquet(self._path, self._schema,
                                                 file_name_suffix=".parquet", num_shards=1,
                                                 shard_name_template="")
        return (rows | "ToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=True))
                | beam.io.WriteToText(self._path, file_name_suffix=".jsonl", num_shards=1,
                                      shard_name_template=""))


class ScoreCorpus(beam.PTransform):
    """Reads a corpus and writes ``documents.jsonl`` (or ``.parquet``) and ``prompts.jsonl``.

    Args:
        saved_model_dir: a Cloze SavedModel (with ``pseudo_log_likelihood`` and ``fill_mask``).
        corpus: the ``CorpusConfig`` of the documents to score.
        output_dir: where the files go.
        prompts: texts with ``[MASK]`` whose fills are written to ``prompts.jsonl``.
        top_k: fills per mask (at most 10, what the SavedModel exports).
        output_format: ``"jsonl"`` or ``"parquet"`` (document scores; prompts are JSON Lines).
        batch_size: documents per model call; each call sees one row per token.
    """

    def __init__(self, saved_model_dir: str, corpus: CorpusConfig, output_dir: str,
                 prompts: Sequence[str] = (), top_k: int = 5, output_format: str = "jsonl",
                 batch_size: int = 4):
        super().__init__()
        if output_format not in FORMATS:
            raise ValueError(f"output_format={output_format!r} is invalid: expected one of "
                             f"{', '.join(FORMATS)}")
        if not 1 <= top_k <= 10:
            raise ValueError(f"top_k={top_k} is invalid: expected 1..10, the candidates "
                             "the SavedModel's fill_mask exports")
        self._saved_model_dir = saved_model_dir
        self._corpus = corpus
        self._output_dir = output_dir
        self._prompts = list(prompts)
        self._top_k = top_k
        self._format = output_format
        self._batch_size = batch_size

    def expand(self, pbegin):
        import pyarrow

        documents = pbegin | "ReadCorpus" >> ReadCorpus(self._corpus)
        scores = (documents
                  | "KeyById" >> beam.Map(lambda doc: (doc.id, doc.text))
                  | "PseudoLogLikelihood" >> RunInference(
                      KeyedModelHandler(SavedModelHandler(
                          self._saved_model_dir, SCORE_SIGNATURE, self._batch_size)))
                  | "ScoreRows" >> beam.ParDo(_ScoreDocumentsFn()))
        schema = pyarrow.schema([("id", pyarrow.string()), ("num_tokens", pyarrow.int64()),
                                 ("pseudo_log_likelihood", pyarrow.float64()),
                                 ("pseudo_perplexity", pyarrow.float64()),
                                 ("masked_accuracy", pyarrow.float64())])
        _ = scores | "WriteDocuments" >> _WriteRows(
            os.path.join(self._output_dir, DOCUMENTS_FILE), self._format, schema)
        if self._prompts:
            top_k = self._top_k
            fills = (pbegin
                     | "Prompts" >> beam.Create(self._prompts)
                     | "FillMask" >> RunInference(SavedModelHandler(
                         self._saved_model_dir, FILL_MASK_SIGNATURE, self._batch_size))
                     | "FillRows" >> beam.Map(
                         lambda result: prompt_fills(result.example, result.inference, top_k)))
            _ = fills | "WritePrompts" >> _WriteRows(
                os.path.join(self._output_dir, PROMPTS_FILE), "jsonl")
        return scores


def score_corpus(saved_model_dir: str, corpus: CorpusConfig, output_dir: str,
                 prompts: Sequence[str] = (), top_k: int = 5, output_format: str = "jsonl",
                 beam_pipeline_args: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Runs ``ScoreCorpus`` to the end; returns the paths of the files written.

    Example (with a model from ``cloze run``)::

        score_corpus("out/serving/cloze/1700000000", CorpusConfig(paths=("texts/",)),
                     "scores/", prompts=["the [MASK] of the list"])
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    with beam.Pipeline(options=PipelineOptions(list(beam_pipeline_args or []))) as pipeline:
        _ = pipeline | ScoreCorpus(saved_model_dir, corpus, output_dir, prompts, top_k,
                                   output_format)
    paths = {"documents": os.path.join(output_dir, f"{DOCUMENTS_FILE}.{output_format}")}
    if prompts:
        paths["prompts"] = os.path.join(output_dir, f"{PROMPTS_FILE}.jsonl")
    return paths
