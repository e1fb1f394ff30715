"""The Cloze TFX pipeline: text -> documents -> vocabulary -> masked TFRecords -> model
-> evaluation and blessing -> push to TF Serving."""
import dataclasses
import json
import os
from typing import Optional, Sequence

from tfx import v1 as tfx

from cloze.components.evaluator import MaskedLmEvaluator
from cloze.components.masked_lm_example_gen import MaskedLmExampleGen
from cloze.components.pusher import MaskedLmPusher
from cloze.components.text_example_gen import TextExampleGen
from cloze.components.trainer import CONFIG_KEY
from cloze.components.vocabulary_gen import VocabularyGen
from cloze.config import PipelineConfig
from cloze.evaluation.blessing import Thresholds

RUN_FN = "cloze.components.trainer.run_fn"
SERVING_MODEL_NAME = "cloze"


def create_pipeline(config: PipelineConfig, pipeline_root: str,
                    metadata_path: Optional[str] = None,
                    beam_pipeline_args: Sequence[str] = (),
                    push_base: Optional[str] = None,
                    serving_model_name: str = SERVING_MODEL_NAME,
                    thresholds: Thresholds = Thresholds(),
                    corpus_fingerprint: str = "") -> tfx.dsl.Pipeline:
    """Builds the pipeline; the runner that executes it is chosen by the caller.

    Each component gets only its own slice of the config, so changing, say,
    the training steps re-runs the Trainer but reuses the cached data stages.
    ``corpus_fingerprint`` (see ``cloze.data.corpus.corpus_fingerprint``) joins
    the ingest stage's cache key, so a changed corpus is read again; runners
    that build the pipeline at run time (local, Airflow) pass it.
    The Evaluator blesses a model that meets ``thresholds`` and is no worse than
    the last blessed one; the Pusher pushes a blessed model to
    ``<push_base>/<serving_model_name>/<version>/`` (default push base:
    ``<pipeline_root>/serving``).

    Example:
    >>> from cloze.config import CorpusConfig
    >>> p = create_pipeline(PipelineConfig(corpus=CorpusConfig(paths=("corpus/",))), "/tmp/root")
    >>> [c.id for c in p.components]
    ['LatestBlessedModelResolver', 'TextExampleGen', 'VocabularyGen', 'MaskedLmExampleGen', \
'StatisticsGen', 'Trainer', 'MaskedLmEvaluator', 'MaskedLmPusher']
    """
    documents = TextExampleGen(corpus_config=json.dumps(dataclasses.asdict(config.corpus)),
                               eval_percent=config.data.eval_percent,
                               corpus_fingerprint=corpus_fingerprint)
    vocabulary = VocabularyGen(documents=documents.outputs["documents"],
                               vocab_config=json.dumps(dataclasses.asdict(config.vocab)))
    masked = MaskedLmExampleGen(documents=documents.outputs["documents"],
                                vocabulary=vocabulary.outputs["vocabulary"],
                                data_config=json.dumps(dataclasses.asdict(config.data)),
                                lower_case=config.vocab.lower_case)
    statistics = tfx.components.StatisticsGen(examples=masked.outputs["examples"])
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=masked.outputs["examples"],
        schema=masked.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.train.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=config.train.eval_steps or None),
        custom_config={CONFIG_KEY: config.to_json()})
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")
    evaluator = MaskedLmEvaluator(examples=masked.outputs["examples"],
                                  model=trainer.outputs["model"],
                                  baseline_model=baseline.outputs["model"],
                                  thresholds=thresholds.to_json())
    pusher = MaskedLmPusher(model=trainer.outputs["model"],
                            model_blessing=evaluator.outputs["blessing"],
                            examples=masked.outputs["examples"],
                            push_base=push_base or os.path.join(pipeline_root, "serving"),
                            model_name=serving_model_name)
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=[documents, vocabulary, masked, statistics, trainer, baseline, evaluator,
                    pusher],
        enable_cache=True,
        metadata_connection_config=(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
            if metadata_path else None),
        beam_pipeline_args=list(beam_pipeline_args))
