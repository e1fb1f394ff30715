"""Runs the pipeline locally (LocalDagRunner, sqlite metadata, Beam DirectRunner)."""
import dataclasses
import json
import os
from typing import Dict, Optional, Sequence

from tfx import v1 as tfx

from cloze.components.counts import read_counts
from cloze.components.evaluator import METRICS_FILE
from cloze.components.pusher import PUSH_FILE
from cloze.components.trainer import PRESET_DIR
from cloze.config import PipelineConfig
from cloze.data.corpus import corpus_fingerprint
from cloze.data.default_corpus import write_default_corpus
from cloze.data.tokenizers import tokenizer_files
from cloze.pipeline.outputs import latest_outputs
from cloze.pipeline.pipeline import SERVING_DIR, create_pipeline
from cloze.training.trainer import RESULT_FILE, TrainingResult

METADATA_FILE = "metadata.sqlite"
PIPELINE_ROOT = "pipeline_root"
DEFAULT_CORPUS_DIR = "default_corpus"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """Where a run's outputs are, and what it counted and learned."""

    examples_dir: str
    vocabulary_file: str
    serving_dir: str
    preset_dir: str
    model_run_dir: str
    document_counts: Dict[str, int]
    sequence_counts: Dict[str, int]
    training: TrainingResult
    evaluation: dict
    push: Optional[dict]

    def describe(self) -> str:
        history = self.training.history
        lines = [
            f"TFRecords:   {self.examples_dir}/Split-{{train,eval}}/",
            f"Vocabulary:  {self.vocabulary_file}",
            f"SavedModel:  {self.serving_dir}",
            f"Preset:      {self.preset_dir}",
            f"Logs:        {self.model_run_dir}",
            "Documents:   " + _format_counts(self.document_counts),
            "Sequences:   " + _format_counts(self.sequence_counts),
            f"Train loss:  {history['loss'][0]:.3f} -> {self.training.train_loss:.3f}",
        ]
        if self.training.eval_loss is not None:
            lines.append(f"Eval loss:   {self.training.eval_loss:.3f} "
                         f"(masked-token accuracy {self.training.eval_accuracy:.3f})")
        candidate = self.evaluation["candidate"]
        lines.append(f"Evaluation:  perplexity {candidate['perplexity']:.2f}, accuracy "
                     f"{candidate['accuracy']:.3f}, top-5 {candidate['top5_accuracy']:.3f}: "
                     + ("BLESSED" if self.evaluation["blessed"] else "NOT BLESSED"))
        lines.append("Pushed:      " + (self.push["saved_model_dir"] if self.push
                                        else "nothing (not blessed)"))
        return "\n".join(lines)


def _format_counts(counts: Dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "(none)"


def with_default_corpus(config: PipelineConfig, output_dir: str) -> PipelineConfig:
    """Points an empty corpus config at the built-in corpus, written under ``output_dir``."""
    if config.corpus.paths:
        return config
    corpus_dir = write_default_corpus(os.path.join(output_dir, DEFAULT_CORPUS_DIR),
                                      config.corpus.default_corpus_bytes)
    return dataclasses.replace(
        config, corpus=dataclasses.replace(config.corpus, paths=(corpus_dir,)))


def local_pipeline(config: PipelineConfig, output_dir: str,
                   beam_pipeline_args: Sequence[str] = ()) -> tfx.dsl.Pipeline:
    """The pipeline as ``cloze run`` and the Airflow DAG build it, everything under ``output_dir``.

    The pipeline root, ``metadata.sqlite`` and (unless ``config.serving.push_base``
    says otherwise) the push base ``serving/`` are under ``output_dir``; the
    corpus fingerprint is taken now, so a changed corpus is read again.

    Example:
    >>> import pathlib, tempfile
    >>> from cloze.config import CorpusConfig
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("One document.")
    >>> p = local_pipeline(PipelineConfig(corpus=CorpusConfig(paths=(str(root),))), "/tmp/out")
    >>> p.components[-1].exec_properties["push_base"]
    '/tmp/out/serving'
    """
    if config.serving.push_base is None:
        config = dataclasses.replace(config, serving=dataclasses.replace(
            config.serving, push_base=os.path.join(output_dir, SERVING_DIR)))
    return create_pipeline(config, os.path.join(output_dir, PIPELINE_ROOT),
                           os.path.join(output_dir, METADATA_FILE), beam_pipeline_args,
                           corpus_fingerprint=corpus_fingerprint(config.corpus.paths))


def run_local(config: PipelineConfig, output_dir: str,
              beam_pipeline_args: Sequence[str] = ()) -> RunSummary:
    """Runs the whole pipeline under ``output_dir`` and summarises the outputs.

    Re-running with an unchanged config reuses cached component outputs. A
    blessed model is pushed to
    ``<config.serving.push_base or output_dir/serving>/<config.serving.model_name>/<version>/``.

    Example::

        summary = run_local(PipelineConfig(), "cloze_output")
        print(summary.describe())
    """
    output_dir = os.path.abspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    config = with_default_corpus(config, output_dir)
    tfx.orchestration.LocalDagRunner().run(local_pipeline(config, output_dir, beam_pipeline_args))
    return summarize(os.path.join(output_dir, METADATA_FILE), config.name,
                     config.vocab.tokenizer)


def summarize(metadata_path: str, pipeline_name: str, tokenizer: str = "wordpiece"
              ) -> RunSummary:
    """Reads the newest outputs of each component from ML Metadata.

    ``vocabulary_file`` is the first file of the ``tokenizer`` (``VocabConfig.tokenizer``).
    """
    def output(component_id: str, key: str) -> str:
        return latest_outputs(metadata_path, pipeline_name, component_id)[key][0]

    model_run_dir = output("Trainer", "model_run")
    model_dir = output("Trainer", "model")
    examples_dir = output("MaskedLmExampleGen", "examples")
    with open(os.path.join(model_run_dir, RESULT_FILE), encoding="utf-8") as f:
        training = TrainingResult.from_json(f.read())
    with open(os.path.join(output("MaskedLmEvaluator", "evaluation"), METRICS_FILE),
              encoding="utf-8") as f:
        evaluation = json.load(f)
    push_file = os.path.join(output("MaskedLmPusher", "pushed_model"), PUSH_FILE)
    push = None
    if os.path.exists(push_file):
        with open(push_file, encoding="utf-8") as f:
            push = json.load(f)
    return RunSummary(
        examples_dir=examples_dir,
        vocabulary_file=tokenizer_files(tokenizer, output("VocabularyGen", "vocabulary"))[0],
        serving_dir=os.path.join(model_dir, "Format-Serving"),
        preset_dir=os.path.join(model_dir, PRESET_DIR),
        model_run_dir=model_run_dir,
        document_counts=read_counts(output("TextExampleGen", "documents")),
        sequence_counts=read_counts(examples_dir),
        training=training,
        evaluation=evaluation,
        push=push)
