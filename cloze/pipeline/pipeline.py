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
from cloze.config import EvalConfig, PipelineConfig, ServingConfig

RUN_FN = "cloze.components.trainer.run_fn"
SERVING_DIR = "serving"


def section_json(section) -> str:
    """One config section as the JSON string a component parameter carries (in field order,
    as the cache keys of earlier runs have it)."""
    return json.dumps(dataclasses.asdict(section))


def create_pipeline(config: PipelineConfig, pipeline_root: str,
                    metadata_path: Optional[str] = None,
                    beam_pipeline_args: Sequence[str] = (),
                    corpus_fingerprint: str = "") -> tfx.dsl.Pipeline:
    """Builds the pipeline; the runner that executes it is chosen by the caller.

    Each component gets only its own slice of the config, so changing, say,
    the training steps re-runs the Trainer but reuses the cached data stages,
    and changing ``config.eval`` (the blessing thresholds) or ``config.serving``
    re-runs only the Evaluator or the Pusher.
    ``corpus_fingerprint`` (see ``cloze.data.corpus.corpus_fingerprint``) joins
    the ingest stage's cache key, so a changed corpus is read again; every
    runner passes the fingerprint of the corpus when it builds the pipeline.
    The Pusher pushes a blessed model to
    ``<config.serving.push_base>/<config.serving.model_name>/<version>/``
    (push base by default ``<pipeline_root>/serving``).

    Example:
    >>> from cloze.config import CorpusConfig
    >>> p = create_pipeline(PipelineConfig(corpus=CorpusConfig(paths=("corpus/",))), "/tmp/root")
    >>> [c.id for c in p.components]
    ['LatestBlessedModelResolver', 'TextExampleGen', 'VocabularyGen', 'MaskedLmExampleGen', \
'StatisticsGen', 'Trainer', 'MaskedLmEvaluator', 'MaskedLmPusher']
    >>> p.components[-1].exec_properties["push_base"]
    '/tmp/root/serving'
    """
    documents = TextExampleGen(corpus_config=section_json(config.corpus),
                               eval_percent=config.data.eval_percent,
                               corpus_fingerprint=corpus_fingerprint)
    vocabulary = VocabularyGen(documents=documents.outputs["documents"],
                               vocab_config=section_json(config.vocab))
    masked = MaskedLmExampleGen(documents=documents.outputs["documents"],
                                vocabulary=vocabulary.outputs["vocabulary"],
                                data_config=section_json(config.data),
                                lower_case=config.vocab.lower_case)
    statistics = tfx.components.StatisticsGen(examples=masked.outputs["examples"])
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=masked.outputs["examples"],
        schema=masked.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.train.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=config.train.eval_steps or None),
        # The thresholds and the push target are not the Trainer's: in its cache
        # key they would re-train a model when only they change.
        custom_config={CONFIG_KEY: dataclasses.replace(
            config, eval=EvalConfig(), serving=ServingConfig()).to_json()})
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")
    evaluator = MaskedLmEvaluator(examples=masked.outputs["examples"],
                                  model=trainer.outputs["model"],
                                  baseline_model=baseline.outputs["model"],
                                  eval_config=section_json(config.eval))
    pusher = MaskedLmPusher(model=trainer.outputs["model"],
                            model_blessing=evaluator.outputs["blessing"],
                            examples=masked.outputs["examples"],
                            push_base=(config.serving.push_base
                                       or os.path.join(pipeline_root, SERVING_DIR)),
                            model_name=config.serving.model_name)
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
