"""Compiles the pipeline to a Kubeflow Pipelines v2 spec (TFX's ``KubeflowV2DagRunner``)."""
import os
from typing import Sequence

from tfx import v1 as tfx

from cloze.config import ConfigError, PipelineConfig
from cloze.data.corpus import corpus_fingerprint
from cloze.pipeline.pipeline import create_pipeline

def compile_time_fingerprint(paths: Sequence[str]) -> str:
    """``corpus_fingerprint(paths)``, listed now through Beam's ``FileSystems``.

    A compiled spec carries it as the ingest stage's parameter, so a spec
    compiled after the corpus changed misses the cache and reads it again.
    Paths that cannot be listed here (no credentials for ``gs://``, a missing
    file) stop the compile with a ``ConfigError`` naming them.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("One document.")
    >>> len(compile_time_fingerprint([str(root)]))
    64
    >>> compile_time_fingerprint([str(root / "missing")])
    Traceback (most recent call last):
    ...
    cloze.config.ConfigError: corpus.paths=...: cannot fingerprint the corpus at compile time ...
    """
    try:
        return corpus_fingerprint(paths)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"corpus.paths={list(paths)!r}: cannot fingerprint the corpus at compile time "
            f"({type(error).__name__}: {str(error).rstrip('.')}). Expected paths this "
            "machine can list: for gs:// give credentials (gcloud auth application-default "
            "login, or GOOGLE_APPLICATION_CREDENTIALS); or compile with --no-corpus-fingerprint "
            "(fingerprint_corpus=False), and the compiled pipeline will not notice a changed "
            "corpus behind unchanged paths (its cached documents are reused).") from error


def compile_kubeflow(config: PipelineConfig, pipeline_root: str, output_file: str,
                     image: str, beam_pipeline_args: Sequence[str] = (),
                     fingerprint_corpus: bool = True) -> str:
    """Writes the pipeline spec JSON that Vertex AI Pipelines or KFP v2 runs; returns its path.

    Every component runs in ``image`` (built from the repository's ``Dockerfile``);
    paths (corpus, ``pipeline_root``, ``config.serving.push_base``, by default
    ``<pipeline_root>/serving``) must be readable from the cluster, e.g. ``gs://``.
    With ``fingerprint_corpus`` the corpus is listed now (``compile_time_fingerprint``);
    without, the spec carries an empty fingerprint.

    Example:
    >>> import json, tempfile
    >>> from cloze.config import CorpusConfig
    >>> config = PipelineConfig(corpus=CorpusConfig(paths=("gs://bucket/corpus/",)))
    >>> path = compile_kubeflow(config, "gs://bucket/root", tempfile.mkdtemp() + "/cloze.json",
    ...                         image="cloze:0.1.0", fingerprint_corpus=False)
    >>> spec = json.load(open(path))["pipelineSpec"]
    >>> spec["root"]["dag"]["tasks"]["MaskedLmPusher"]["dependentTasks"]
    ['MaskedLmEvaluator', 'MaskedLmExampleGen', 'Trainer']
    """
    if not config.corpus.paths:
        raise ConfigError("corpus.paths=() is invalid for a compiled pipeline: expected the "
                          "corpus location the cluster reads, e.g. --corpus gs://bucket/texts/")
    fingerprint = compile_time_fingerprint(config.corpus.paths) if fingerprint_corpus else ""
    pipeline = create_pipeline(config, pipeline_root, metadata_path=None,
                               beam_pipeline_args=beam_pipeline_args,
                               corpus_fingerprint=fingerprint)
    output_dir, output_filename = os.path.split(os.path.abspath(output_file))
    os.makedirs(output_dir, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=output_dir, output_filename=output_filename)
    runner.run(pipeline, write_out=True)
    return os.path.join(output_dir, output_filename)
