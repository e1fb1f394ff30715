"""MaskedLmPusher: pushes a blessed model's SavedModel and preset to the TF Serving layout."""
import json
import os

import tensorflow as tf
from tfx.components.evaluator import constants
from tfx.types import artifact_utils
from tfx.utils import path_utils
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter, component
from tfx.v1.types.standard_artifacts import Examples, Model, ModelBlessing, PushedModel

from cloze.components.counts import report
from cloze.components.trainer import PRESET_DIR
from cloze.export.serving import (WARMUP_BATCH_SIZE, WARMUP_REQUESTS, push, pushed_version_of,
                                  read_records)

# The stock Pusher's custom properties (tfx.components.pusher.executor).
PUSHED_KEY = "pushed"
PUSHED_DESTINATION_KEY = "pushed_destination"
PUSHED_VERSION_KEY = "pushed_version"
PUSH_FILE = "push.json"


@component
def MaskedLmPusher(
    model: InputArtifact[Model],
    model_blessing: InputArtifact[ModelBlessing],
    examples: InputArtifact[Examples],
    pushed_model: OutputArtifact[PushedModel],
    push_base: Parameter[str],
    model_name: Parameter[str],
) -> None:
    """Pushes only when ``model_blessing`` is blessed, to ``<push_base>/<model_name>/<version>/``.

    A model already pushed (a re-run with nothing changed blesses the same
    model against itself) is not pushed again.

    The preset goes to ``<push_base>/<model_name>/presets/<version>/`` (TFX's
    stock Pusher copies only ``Format-Serving``); warmup requests are built from
    the first eval examples. ``pushed_model`` records the stock Pusher's
    ``pushed``, ``pushed_destination`` and ``pushed_version`` properties.
    """
    blessed = model_blessing.get_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.BLESSED_VALUE
    if not blessed:
        pushed_model.set_int_custom_property(PUSHED_KEY, 0)
        report("MaskedLmPusher", f"not pushed: {model.uri} is not blessed")
        return
    saved_model_dir = path_utils.serving_model_path(model.uri)
    already = pushed_version_of(saved_model_dir, os.path.join(push_base, model_name))
    if already is not None:
        pushed_model.set_int_custom_property(PUSHED_KEY, 0)
        report("MaskedLmPusher", f"not pushed: {model.uri} is already version {already}")
        return
    eval_pattern = os.path.join(artifact_utils.get_split_uri([examples], "eval"), "*")
    done = push(saved_model_dir, push_base, model_name,
                preset_dir=os.path.join(model.uri, PRESET_DIR),
                warmup_examples=read_records(eval_pattern, WARMUP_REQUESTS * WARMUP_BATCH_SIZE))
    pushed_model.set_int_custom_property(PUSHED_KEY, 1)
    pushed_model.set_string_custom_property(PUSHED_DESTINATION_KEY, done.saved_model_dir)
    pushed_model.set_int_custom_property(PUSHED_VERSION_KEY, done.version)
    tf.io.gfile.makedirs(pushed_model.uri)
    with tf.io.gfile.GFile(os.path.join(pushed_model.uri, PUSH_FILE), "w") as f:
        f.write(json.dumps({"model_name": model_name, "version": done.version,
                            "saved_model_dir": done.saved_model_dir,
                            "preset_dir": done.preset_dir}, indent=2))
    report("MaskedLmPusher", f"pushed version {done.version} to {done.saved_model_dir}")
