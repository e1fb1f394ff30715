"""MaskedLmEvaluator: eval-split metrics of the SavedModel, thresholds, baseline, blessing."""
import dataclasses
import json
import os

import tensorflow as tf
from tfx.components.evaluator import constants
from tfx.types import artifact_utils
from tfx.utils import path_utils
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter, component
from tfx.v1.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation

from cloze.components.counts import report
from cloze.config import EvalConfig
from cloze.evaluation.blessing import html_report, judge
from cloze.evaluation.metrics import evaluate_saved_model

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"


def _write(uri: str, name: str, text: str) -> None:
    tf.io.gfile.makedirs(uri)
    with tf.io.gfile.GFile(os.path.join(uri, name), "w") as f:
        f.write(text)


@component
def MaskedLmEvaluator(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    evaluation: OutputArtifact[ModelEvaluation],
    blessing: OutputArtifact[ModelBlessing],
    eval_config: Parameter[str] = "{}",
    baseline_model: InputArtifact[Model] = None,
) -> None:
    """Evaluates ``model`` (and ``baseline_model``, the last blessed one) on the eval split.

    Writes ``metrics.json`` and ``report.html`` to the ``ModelEvaluation``, and
    ``BLESSED`` or ``NOT_BLESSED`` with the stock Evaluator's custom properties to
    the ``ModelBlessing``, so TFX's ``LatestBlessedModelStrategy`` and Pusher read it.
    ``eval_config`` is a ``cloze.config.EvalConfig`` as JSON: the thresholds and
    the batch size.
    """
    config = EvalConfig(**json.loads(eval_config))
    pattern = os.path.join(artifact_utils.get_split_uri([examples], "eval"), "*")
    candidate = evaluate_saved_model(path_utils.serving_model_path(model.uri), pattern,
                                     config.batch_size)
    baseline = None
    if baseline_model is not None:
        # A re-run with nothing changed meets its own model as the baseline.
        baseline = candidate if baseline_model.id == model.id else evaluate_saved_model(
            path_utils.serving_model_path(baseline_model.uri), pattern, config.batch_size)
    judgement = judge(candidate, config, baseline)
    _write(evaluation.uri, METRICS_FILE, json.dumps({
        "candidate": candidate.to_dict(),
        "baseline": baseline.to_dict() if baseline else None,
        "eval_config": dataclasses.asdict(config),
        "blessed": judgement.blessed,
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail}
                   for c in judgement.checks]}, indent=2, sort_keys=True))
    _write(evaluation.uri, REPORT_FILE, html_report(candidate, judgement, baseline))
    _write(blessing.uri, constants.BLESSED_FILE_NAME if judgement.blessed
           else constants.NOT_BLESSED_FILE_NAME, "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                     constants.BLESSED_VALUE if judgement.blessed
                                     else constants.NOT_BLESSED_VALUE)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                        model.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY,
                                        judgement.describe())
    if baseline_model is not None:
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
                                            baseline_model.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY,
                                         baseline_model.id)
    report("MaskedLmEvaluator", f"perplexity={candidate.perplexity:.2f} "
                                f"accuracy={candidate.accuracy:.3f} "
                                f"top5_accuracy={candidate.top5_accuracy:.3f}; "
                                + judgement.describe())
