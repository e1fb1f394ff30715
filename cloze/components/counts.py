"""Document and sequence counts: stored on the artifact and beside its data."""
import json
import os

import tensorflow as tf

from cloze.components.artifacts import COUNTS_FILE


def record_counts(artifact, counts: dict, stage: str) -> None:
    """Writes ``counts.json`` under the artifact URI and reports them as progress."""
    tf.io.gfile.makedirs(artifact.uri)
    with tf.io.gfile.GFile(os.path.join(artifact.uri, COUNTS_FILE), "w") as f:
        f.write(json.dumps(counts, indent=2, sort_keys=True))
    report(stage, ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def report(stage: str, message: str) -> None:
    """One progress line on stdout, which every orchestrator keeps in its logs."""
    print(f"cloze [{stage}] {message}", flush=True)


def read_counts(uri: str) -> dict:
    path = os.path.join(uri, COUNTS_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
