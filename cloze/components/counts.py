"""Document and sequence counts: stored on the artifact and beside its data."""
import json
import logging
import os

import tensorflow as tf

from cloze.components.artifacts import COUNTS_FILE


def record_counts(artifact, counts: dict) -> None:
    """Writes ``counts.json`` under the artifact URI and logs them."""
    tf.io.gfile.makedirs(artifact.uri)
    with tf.io.gfile.GFile(os.path.join(artifact.uri, COUNTS_FILE), "w") as f:
        f.write(json.dumps(counts, indent=2, sort_keys=True))
    logging.info("counts for %s: %s", artifact.uri, counts)


def read_counts(uri: str) -> dict:
    path = os.path.join(uri, COUNTS_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
