"""The Airflow DAG module: importable without Airflow; with Airflow, one task per component."""
import importlib
import json
import logging

import pytest

import cloze.pipeline.airflow_dag as airflow_dag


@pytest.fixture(scope="module", autouse=True)
def restore_root_logging():
    """Importing Airflow configures the root logger (INFO, to stdout); later tests and
    doctests compare what they print, so the module leaves it as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cloze_environment(monkeypatch, tmp_path):
    """Airflow importable with its home in tmp_path, and CLOZE_* naming a one-document corpus."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow_home"))
    pytest.importorskip("airflow", reason=(
        "apache-airflow is not installed: install the airflow extra with constraints.txt "
        "(scripts/env.sh does); see docs/serving.md"))
    corpus = tmp_path / "texts"
    corpus.mkdir()
    (corpus / "a.txt").write_text("One document.\n")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"name": "cloze_daily", "corpus": {"paths": [str(corpus)]}}))
    monkeypatch.setenv(airflow_dag.CONFIG_ENV, str(config_file))
    monkeypatch.setenv(airflow_dag.OUTPUT_ENV, str(tmp_path / "out"))


def test_without_cloze_config_the_module_defines_no_dag(monkeypatch):
    monkeypatch.delenv(airflow_dag.CONFIG_ENV, raising=False)
    assert importlib.reload(airflow_dag).DAG is None


def test_relative_paths_in_the_config_file_are_taken_from_its_directory(tmp_path):
    config_file = tmp_path / "conf" / "config.json"
    config_file.parent.mkdir()
    config_file.write_text(json.dumps({"corpus": {"paths": ["texts", "gs://b/t"]},
                                       "serving": {"push_base": "../models"}}))
    config = airflow_dag.config_from_file(str(config_file))
    assert config.corpus.paths == (str(tmp_path / "conf" / "texts"), "gs://b/t")
    assert config.serving.push_base == str(tmp_path / "conf" / "../models")


def test_dag_has_a_task_per_component_in_pipeline_order(cloze_environment):
    dag = importlib.reload(airflow_dag).DAG
    assert dag.dag_id == "cloze_daily"
    assert set(dag.task_ids) >= {"TextExampleGen", "VocabularyGen", "MaskedLmExampleGen",
                                 "StatisticsGen", "Trainer", "MaskedLmEvaluator",
                                 "MaskedLmPusher"}
    upstream = lambda task: set(dag.get_task(task).upstream_task_ids)
    assert upstream("VocabularyGen") == {"TextExampleGen"}
    assert upstream("MaskedLmExampleGen") == {"TextExampleGen", "VocabularyGen"}
    assert upstream("Trainer") == {"MaskedLmExampleGen"}
    assert upstream("MaskedLmEvaluator") >= {"Trainer", "MaskedLmExampleGen"}
    assert upstream("MaskedLmPusher") == {"Trainer", "MaskedLmEvaluator", "MaskedLmExampleGen"}


def test_airflow_dagbag_parses_the_file_into_one_dag(cloze_environment):
    from airflow.models import DagBag

    bag = DagBag(dag_folder=airflow_dag.__file__, include_examples=False)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["cloze_daily"]
