"""The eval and serving sections flow from the config into the components that use them."""
import dataclasses
import json

from cloze.config import CorpusConfig, EvalConfig, PipelineConfig, ServingConfig
from cloze.pipeline.pipeline import create_pipeline
from cloze.pipeline.runner import local_pipeline

TUNED = PipelineConfig(corpus=CorpusConfig(paths=("corpus/",)),
                       eval=EvalConfig(min_accuracy=0.3, max_loss_increase=None, batch_size=8),
                       serving=ServingConfig(model_name="cloze-en", push_base="/srv/models"))


def component(pipeline, component_id):
    return next(c for c in pipeline.components if c.id == component_id)


def test_eval_section_is_the_evaluator_parameter():
    evaluator = component(create_pipeline(TUNED, "/tmp/root"), "MaskedLmEvaluator")
    assert EvalConfig(**json.loads(evaluator.exec_properties["eval_config"])) == TUNED.eval


def test_serving_section_names_the_pusher_target():
    pusher = component(create_pipeline(TUNED, "/tmp/root"), "MaskedLmPusher")
    assert pusher.exec_properties["push_base"] == "/srv/models"
    assert pusher.exec_properties["model_name"] == "cloze-en"


def test_thresholds_and_serving_target_stay_out_of_the_trainer_cache_key():
    default = PipelineConfig(corpus=TUNED.corpus)
    trainers = [component(create_pipeline(config, "/tmp/root"), "Trainer")
                for config in (default, TUNED)]
    assert (trainers[0].exec_properties["custom_config"]
            == trainers[1].exec_properties["custom_config"])


def test_local_runs_push_under_the_output_directory_unless_told_otherwise(tmp_path):
    (tmp_path / "a.txt").write_text("One document.")
    config = PipelineConfig(corpus=CorpusConfig(paths=(str(tmp_path),)))
    default = component(local_pipeline(config, "/out"), "MaskedLmPusher")
    assert default.exec_properties["push_base"] == "/out/serving"
    given = dataclasses.replace(config, serving=ServingConfig(push_base="/srv/models"))
    assert component(local_pipeline(given, "/out"),
                     "MaskedLmPusher").exec_properties["push_base"] == "/srv/models"


def test_eval_and_serving_sections_round_trip_through_json():
    assert PipelineConfig.from_json(TUNED.to_json()) == TUNED
    assert json.loads(TUNED.to_json())["eval"]["max_loss_increase"] is None
