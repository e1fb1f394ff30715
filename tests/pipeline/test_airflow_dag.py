"""The Airflow DAG module: importable without Airflow; with Airflow, one task per component."""
import importlib
import json

import pytest

import cloze.pipeline.airflow_dag as airflow_dag


def test_without_cloze_config_the_module_defines_no_dag(monkeypatch):
    monkeypatch.delenv(airflow_dag.CONFIG_ENV, raising=False)
    assert importlib.reload(airflow_dag).DAG is None


def test_dag_has_a_task_per_component_in_pipeline_order(monkeypatch, tmp_path):
    pytest.importorskip("airflow", reason="Airflow is an optional extra and is not installed")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"name": "cloze_daily", "corpus": {"paths": ["texts/"]}}))
    monkeypatch.setenv(airflow_dag.CONFIG_ENV, str(config_file))
    monkeypatch.setenv(airflow_dag.OUTPUT_ENV, str(tmp_path / "out"))
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
