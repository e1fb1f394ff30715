"""Compiles the pipeline to a Kubeflow Pipelines v2 spec (TFX's ``KubeflowV2DagRunner``)."""
import os
from typing import Optional, Sequence

from tfx import v1 as tfx

from cloze.config import ConfigError, PipelineConfig
from cloze.evaluation.blessing import Thresholds
from cloze.pipeline.pipeline import SERVING_MODEL_NAME, create_pipeline


def compile_kubeflow(config: PipelineConfig, pipeline_root: str, output_file: str,
                     image: str, push_base: Optional[str] = None,
                     beam_pipeline_args: Sequence[str] = (),
                     serving_model_name: str = SERVING_MODEL_NAME,
                     thresholds: Thresholds = Thresholds()) -> str:
    """Writes the pipeline spec JSON that Vertex AI Pipelines or KFP v2 runs; returns its path.

    Every component runs in ``image`` (built from the repository's ``Dockerfile``);
    paths (corpus, ``pipeline_root``, ``push_base``) must be readable from the
    cluster, e.g. ``gs://``.

    Example:
    >>> import json, tempfile
    >>> from cloze.config import CorpusConfig
    >>> config = PipelineConfig(corpus=CorpusConfig(paths=("gs://bucket/corpus/",)))
    >>> path = compile_kubeflow(config, "gs://bucket/root", tempfile.mkdtemp() + "/cloze.json",
    ...                         image="cloze:0.1.0")
    >>> spec = json.load(open(path))["pipelineSpec"]
    >>> spec["root"]["dag"]["tasks"]["MaskedLmPusher"]["dependentTasks"]
    ['MaskedLmEvaluator', 'MaskedLmExampleGen', 'Trainer']
    """
    if not config.corpus.paths:
        raise ConfigError("corpus.paths=() is invalid for a compiled pipeline: expected the "
                          "corpus location the cluster reads, e.g. --corpus gs://bucket/texts/")
    pipeline = create_pipeline(config, pipeline_root, metadata_path=None,
                               beam_pipeline_args=beam_pipeline_args, push_base=push_base,
                               serving_model_name=serving_model_name, thresholds=thresholds)
    output_dir, output_filename = os.path.split(os.path.abspath(output_file))
    os.makedirs(output_dir, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=output_dir, output_filename=output_filename)
    runner.run(pipeline, write_out=True)
    return os.path.join(output_dir, output_filename)
