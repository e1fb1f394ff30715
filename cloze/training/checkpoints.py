"""Checkpoints that survive preemption: written atomically, resumed exactly."""
import json
import os
from typing import Optional

import numpy as np
import tensorflow as tf

STATE_FILE = "state.json"
KEEP = 2


class TrainingCheckpoint:
    """Model and optimizer state plus the training position, under one directory.

    Each checkpoint is ``ckpt-<batches>.weights.h5`` (Keras saves the optimizer
    variables with the model's when the model is compiled) plus
    ``ckpt-<batches>.seeds.npy``, the dropout seed-generator states, which
    Keras leaves out of weight files but an exact resume needs; ``state.json``
    names the newest and carries the position and the history so far. Each
    file is written under a temporary name and renamed, so a kill at any
    moment leaves the previous checkpoint intact.

    Args:
        directory: where checkpoints are read from (and written to).
        write_directory: where ``save`` writes instead, if given: the workers
            of a multi-worker run other than the chief resume from the chief's
            checkpoints but write theirs to a scratch directory.

    Example:
    >>> import tempfile
    >>> TrainingCheckpoint(tempfile.mkdtemp()).state() is None
    True
    """

    def __init__(self, directory: str, write_directory: Optional[str] = None):
        self.directory = directory
        self.write_directory = write_directory or directory

    def state(self) -> Optional[dict]:
        """The newest checkpoint's state (``batches``, ``weights``, ``history``), if any."""
        path = os.path.join(self.directory, STATE_FILE)
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)

    def save(self, model, batches: int, history: dict) -> str:
        tf.io.gfile.makedirs(self.write_directory)
        name = f"ckpt-{batches}.weights.h5"
        path = os.path.join(self.write_directory, name)
        model.save_weights(path + ".tmp.weights.h5")
        tf.io.gfile.rename(path + ".tmp.weights.h5", path, overwrite=True)
        with tf.io.gfile.GFile(_seeds_path(path) + ".tmp", "wb") as f:
            np.save(f, np.array([v.numpy() for v in _seed_states(model)]))
        tf.io.gfile.rename(_seeds_path(path) + ".tmp", _seeds_path(path), overwrite=True)
        state_path = os.path.join(self.write_directory, STATE_FILE)
        with tf.io.gfile.GFile(state_path + ".tmp", "w") as f:
            json.dump({"batches": batches, "weights": name, "history": history}, f)
        tf.io.gfile.rename(state_path + ".tmp", state_path, overwrite=True)
        self._prune(keep=name)
        return path

    def restore(self, model) -> dict:
        """Loads the newest checkpoint into ``model`` (compiled, built); returns its state."""
        state = self.state()
        if state is not None:
            path = os.path.join(self.directory, state["weights"])
            model.load_weights(path)
            with tf.io.gfile.GFile(_seeds_path(path), "rb") as f:
                for variable, value in zip(_seed_states(model), np.load(f)):
                    variable.assign(value)
        return state or {"batches": 0, "history": {}}

    def _prune(self, keep: str) -> None:
        checkpoints = sorted(
            (f for f in tf.io.gfile.listdir(self.write_directory)
             if f.startswith("ckpt-") and f.endswith(".weights.h5") and ".tmp" not in f),
            key=lambda f: int(f[len("ckpt-"):-len(".weights.h5")]))
        for old in checkpoints[:-KEEP]:
            if old != keep:
                old_path = os.path.join(self.write_directory, old)
                tf.io.gfile.remove(old_path)
                tf.io.gfile.remove(_seeds_path(old_path))


def _seeds_path(weights_path: str) -> str:
    return weights_path[:-len(".weights.h5")] + ".seeds.npy"


def _seed_states(model) -> list:
    """The seed-generator states of ``model``, in its (construction-stable) variable order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]
