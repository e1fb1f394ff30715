"""Finds what the last run of each pipeline component wrote, from ML Metadata."""
from typing import Dict, List

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx


def latest_outputs(metadata_path: str, pipeline_name: str, component_id: str) -> Dict[str, List[str]]:
    """Output key -> artifact URIs of the component's newest execution (cached or not).

    Example (after a run)::

        latest_outputs("out/metadata.sqlite", "cloze", "Trainer")["model"]
    """
    store = mlmd.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{component_id}")
    if context is None:
        raise LookupError(f"no runs of {component_id} in pipeline {pipeline_name!r} "
                          f"recorded in {metadata_path}")
    executions = store.get_executions_by_context(context.id)
    newest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
    outputs: Dict[str, List[str]] = {}
    events = store.get_events_by_execution_ids([newest.id])
    output_types = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    by_id = {a.id: a for a in store.get_artifacts_by_id(
        [e.artifact_id for e in events if e.type in output_types])}
    for event in events:
        if event.type in output_types:
            key = event.path.steps[0].key
            outputs.setdefault(key, []).append(by_id[event.artifact_id].uri)
    return outputs
