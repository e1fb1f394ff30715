"""`cloze compile --target kubeflow`: the KFP v2 spec that TFX's KubeflowV2DagRunner writes."""
import json
import os

import pytest

from cloze.config import ConfigError, PipelineConfig
from cloze.data.corpus import corpus_fingerprint
from cloze.pipeline.cli import main

IMAGE = "registry.example.com/cloze:1.2.3"
STAGES = ["TextExampleGen", "VocabularyGen", "MaskedLmExampleGen", "StatisticsGen", "Trainer",
          "MaskedLmEvaluator", "MaskedLmPusher"]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp") / "cloze.json"
    # No credentials for gs:// here, so the corpus is not listed (tested below on local files).
    assert main(["compile", "--target", "kubeflow", "--output", str(out), "--image", IMAGE,
                 "--pipeline-root", "gs://bucket/root", "--push-base", "gs://bucket/serving",
                 "--model-name", "cloze-en", "--set", "eval.min_accuracy=0.25",
                 "--corpus", "gs://bucket/corpus/", "--set", "train.train_steps=123",
                 "--no-corpus-fingerprint"]) == 0
    return json.loads(out.read_text())


def compile_local(corpus_dir, output_file):
    assert main(["compile", "--target", "kubeflow", "--output", str(output_file),
                 "--pipeline-root", "gs://bucket/root", "--corpus", str(corpus_dir)]) == 0
    tasks = json.loads(output_file.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    return parameter(tasks["TextExampleGen"], "corpus_fingerprint")


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


def test_parameters_carry_the_config_thresholds_and_serving_target(spec):
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert json.loads(parameter(tasks["TextExampleGen"], "corpus_config"))["paths"] == [
        "gs://bucket/corpus/"]
    assert parameter(tasks["TextExampleGen"], "corpus_fingerprint") == ""
    custom = json.loads(parameter(tasks["Trainer"], "custom_config"))
    assert PipelineConfig.from_json(custom["cloze_config"]).train.train_steps == 123
    assert parameter(tasks["MaskedLmPusher"], "push_base") == "gs://bucket/serving"
    assert parameter(tasks["MaskedLmPusher"], "model_name") == "cloze-en"
    eval_config = json.loads(parameter(tasks["MaskedLmEvaluator"], "eval_config"))
    assert eval_config["min_accuracy"] == 0.25 and eval_config["max_loss_increase"] == 0
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


def test_compiled_spec_carries_the_corpus_fingerprint_taken_at_compile_time(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("First document.\n")
    assert compile_local(corpus, tmp_path / "first.json") == corpus_fingerprint([str(corpus)])


def test_a_changed_corpus_changes_the_compiled_fingerprint(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("First document.\n")
    first = compile_local(corpus, tmp_path / "first.json")
    # A different size changes the fingerprint whatever the filesystem's mtime resolution.
    (corpus / "a.txt").write_text("First document, edited.\n")
    assert compile_local(corpus, tmp_path / "second.json") != first


def test_a_corpus_that_cannot_be_listed_stops_the_compile_naming_the_opt_out(tmp_path, capsys):
    missing = str(tmp_path / "no_such_corpus")
    assert main(["compile", "--output", str(tmp_path / "x.json"), "--pipeline-root",
                 "gs://bucket/root", "--corpus", missing]) == 2
    err = capsys.readouterr().err
    assert "cannot fingerprint the corpus at compile time" in err and missing in err
    assert "--no-corpus-fingerprint" in err
    assert not os.path.exists(tmp_path / "x.json")
