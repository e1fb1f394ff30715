"""`cloze compile --target kubeflow`: the KFP v2 spec that TFX's KubeflowV2DagRunner writes."""
import json

import pytest

from cloze.config import ConfigError, PipelineConfig
from cloze.pipeline.cli import main

IMAGE = "registry.example.com/cloze:1.2.3"
STAGES = ["TextExampleGen", "VocabularyGen", "MaskedLmExampleGen", "StatisticsGen", "Trainer",
          "MaskedLmEvaluator", "MaskedLmPusher"]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp") / "cloze.json"
    assert main(["compile", "--target", "kubeflow", "--output", str(out), "--image", IMAGE,
                 "--pipeline-root", "gs://bucket/root", "--push-base", "gs://bucket/serving",
                 "--corpus", "gs://bucket/corpus/", "--set", "train.train_steps=123"]) == 0
    return json.loads(out.read_text())


def parameter(task, name):
    return task["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]["stringValue"]


def test_every_stage_is_a_task_with_the_baseline_resolver(spec):
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert set(STAGES) <= set(tasks)
    assert any(name.startswith("LatestBlessedModelResolver") for name in tasks)


def test_tasks_depend_on_the_stages_before_them(spec):
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    order = {name: i for i, name in enumerate(STAGES)}
    for name in STAGES:
        for dependency in tasks[name].get("dependentTasks", []):
            if dependency in order:
                assert order[dependency] < order[name], (dependency, name)
    assert tasks["MaskedLmPusher"]["dependentTasks"] == ["MaskedLmEvaluator", "MaskedLmExampleGen",
                                                         "Trainer"]
    assert ("LatestBlessedModelResolver-model-resolver"
            in tasks["MaskedLmEvaluator"]["dependentTasks"])


def test_every_container_runs_the_pipeline_image(spec):
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = [e["container"] for e in executors.values() if "container" in e]
    assert len(containers) == len(STAGES)
    assert {c["image"] for c in containers} == {IMAGE}


def test_parameters_carry_the_config_and_the_push_base(spec):
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert json.loads(parameter(tasks["TextExampleGen"], "corpus_config"))["paths"] == [
        "gs://bucket/corpus/"]
    custom = json.loads(parameter(tasks["Trainer"], "custom_config"))
    assert PipelineConfig.from_json(custom["cloze_config"]).train.train_steps == 123
    assert parameter(tasks["MaskedLmPusher"], "push_base") == "gs://bucket/serving"
    assert json.loads(parameter(tasks["MaskedLmEvaluator"], "thresholds"))["max_loss_increase"] == 0
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/root"
    assert all(t.get("cachingOptions", {}).get("enableCache") for n, t in tasks.items()
               if n in STAGES)


def test_the_vocabulary_artifact_type_keeps_its_namespaced_name(spec):
    outputs = spec["pipelineSpec"]["components"]["VocabularyGen"]["outputDefinitions"]
    schema = outputs["artifacts"]["vocabulary"]["artifactType"]
    assert "title: cloze.Vocabulary" in schema.get("instanceSchema", schema.get("schemaTitle", ""))


def test_compiling_without_a_corpus_is_refused_naming_the_field(tmp_path):
    from cloze.pipeline.kubeflow import compile_kubeflow

    with pytest.raises(ConfigError, match=r"corpus\.paths=\(\) is invalid"):
        compile_kubeflow(PipelineConfig(), "gs://bucket/root", str(tmp_path / "x.json"), IMAGE)
