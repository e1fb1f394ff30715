"""The Cloze pipeline as an Airflow DAG (TFX's ``AirflowDagRunner``); Airflow is an optional extra.

Copy or link this file into Airflow's ``dags/`` folder and set, for the scheduler
and the workers:

* ``CLOZE_CONFIG``: a JSON file of ``PipelineConfig`` fields; ``corpus.paths`` is required;
  relative local paths in it are taken relative to the file's directory;
* ``CLOZE_OUTPUT``: the directory for the pipeline root, ``metadata.sqlite`` and
  the ``serving/`` push base unless ``serving.push_base`` names another (as
  ``cloze run --output``), shared by the workers;
* ``CLOZE_SCHEDULE``: the schedule (default ``@daily``).

With ``CLOZE_CONFIG`` unset, importing the module defines no DAG, so it imports
cleanly anywhere. TFX caching reuses the data stages while the corpus and config
are unchanged, so a daily run re-trains only when something changed.
"""
import datetime
import os

from cloze.config import ConfigError, PipelineConfig

CONFIG_ENV = "CLOZE_CONFIG"
OUTPUT_ENV = "CLOZE_OUTPUT"
SCHEDULE_ENV = "CLOZE_SCHEDULE"
START_DATE = datetime.datetime(2024, 1, 1)


def create_dag(config: PipelineConfig, output_dir: str, schedule: str = "@daily"):
    """The Airflow DAG of the pipeline: one task per component, ``dag_id`` = ``config.name``.

    Example (with Airflow installed)::

        dag = create_dag(PipelineConfig.from_dict({"corpus": {"paths": ["texts/"]}}), "out")
        dag.task_ids  # ['TextExampleGen', 'VocabularyGen', ...]
    """
    from tfx.orchestration.airflow.airflow_dag_runner import (AirflowDagRunner,
                                                              AirflowPipelineConfig)
    from cloze.pipeline.runner import local_pipeline

    if not config.corpus.paths:
        raise ConfigError("corpus.paths=() is invalid for a scheduled pipeline: expected the "
                          f"corpus location, in the JSON file that {CONFIG_ENV} names")
    runner = AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config={
        "schedule_interval": schedule, "start_date": START_DATE, "catchup": False}))
    return runner.run(local_pipeline(config, output_dir))


def config_from_file(config_file: str) -> PipelineConfig:
    """The ``PipelineConfig`` of JSON file ``config_file``, relative paths taken from its directory.

    Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = path.write_text('{"corpus": {"paths": ["texts/"]}}')
    >>> config_from_file(str(path)).corpus.paths == (str(path.parent / "texts") + "/",)
    True
    """
    with open(config_file, encoding="utf-8") as f:
        config = PipelineConfig.from_json(f.read())
    return config.with_absolute_paths(os.path.dirname(os.path.abspath(config_file)))


def dag_from_environment():
    """The DAG the environment describes, or None when ``CLOZE_CONFIG`` is unset."""
    config_file = os.environ.get(CONFIG_ENV)
    if not config_file:
        return None
    return create_dag(config_from_file(config_file),
                      os.path.abspath(os.environ.get(OUTPUT_ENV, "cloze_output")),
                      os.environ.get(SCHEDULE_ENV, "@daily"))


DAG = dag_from_environment()
