"""Moving weights between Cloze models and keras-hub's.

Cloze's backbones, encoder block and masked-LM head name their layers the way
keras-hub's do, so a variable's ``path`` (``transformer_layer_0/self_attention_layer/
query/kernel``, ``mlm_head/output_bias``) names the same tensor in both
libraries, and their presets share one layout and one weight-file structure:
converting a preset only translates its configs. Nothing here imports keras-hub.
"""
import json
import os

import keras

from cloze.models import presets
from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.bert_backbone import KERAS_HUB_HEAD_LAYER_NORM_EPSILON
from cloze.models.layers.activations import gelu_approximate
from cloze.models.tasks.masked_lm import MaskedLM


def weights_by_path(model: keras.Model) -> dict:
    """``model``'s weights keyed by their ``path``; a path seen twice is an error."""
    weights = {}
    for weight in model.weights:
        if weight.path in weights:
            raise ValueError(f"{model.name} has two weights at path {weight.path!r}; "
                             f"paths must be unique to pair weights by path.")
        weights[weight.path] = weight
    return weights


def transfer_weights(source: keras.Model, target: keras.Model) -> None:
    """Assigns each weight of ``source`` to the weight of ``target`` at the same path.

    Both models must have exactly the same paths with the same shapes; anything
    else raises ``ValueError`` naming the paths (and shapes) that differ, before
    any weight is written.

    Example:
    >>> from cloze.models import BertBackbone
    >>> config = dict(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...               intermediate_dim=16, max_sequence_length=8)
    >>> source, target = BertBackbone(**config), BertBackbone(**config)
    >>> transfer_weights(source, target)
    >>> import numpy as np
    >>> bool(np.array_equal(source.token_embedding.embeddings, target.token_embedding.embeddings))
    True
    """
    sources, targets = weights_by_path(source), weights_by_path(target)
    only_source = sorted(sources.keys() - targets.keys())
    only_target = sorted(targets.keys() - sources.keys())
    if only_source or only_target:
        raise ValueError(f"cannot pair the weights of {source.name} and {target.name}: "
                         f"paths only in the source: {only_source}; "
                         f"paths only in the target: {only_target}.")
    mismatched = [f"{path}: source {tuple(sources[path].shape)}, "
                  f"target {tuple(targets[path].shape)}"
                  for path in sorted(sources)
                  if tuple(sources[path].shape) != tuple(targets[path].shape)]
    if mismatched:
        raise ValueError(f"shapes differ between {source.name} and {target.name}: "
                         + "; ".join(mismatched))
    for path, weight in sources.items():
        targets[path].assign(weight)


# keras-hub backbone class -> (model folder name, its masked-LM task class). Cloze
# registers its backbones under the same class names, in package "cloze".
KERAS_HUB_MASKED_LMS = {
    "BertBackbone": ("bert", "BertMaskedLM"),
    "AlbertBackbone": ("albert", "AlbertMaskedLM"),
}


def keras_hub_numerics() -> dict:
    """The constructor arguments Cloze adds to keras-hub's BERT and ALBERT, at keras-hub's values.

    keras-hub fixes these in code, so its configs never mention them.
    """
    return {"activation": keras.activations.serialize(gelu_approximate),
            "masked_lm_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON}


def _readable(value):
    """A serialized registered function by its registered name, anything else as is."""
    return value["config"] if isinstance(value, dict) else value


def _supported_class(registered_name: str, package: str, source: str) -> str:
    class_name = registered_name.partition(">")[2]
    if registered_name != f"{package}>{class_name}" or class_name not in KERAS_HUB_MASKED_LMS:
        raise presets.PresetError(
            f"{source} describes {registered_name!r}; expected one of "
            f"{sorted(f'{package}>{name}' for name in KERAS_HUB_MASKED_LMS)}.")
    return class_name


def backbone_config_from_keras_hub(config: dict, file: str = presets.CONFIG_FILE) -> dict:
    """Cloze's serialized backbone equivalent to keras-hub's serialized backbone ``config``.

    Example:
    >>> keras_hub_config = {"module": "keras_hub.src.models.bert.bert_backbone",
    ...     "class_name": "BertBackbone", "registered_name": "keras_hub>BertBackbone",
    ...     "config": {"vocabulary_size": 20, "num_layers": 1, "num_heads": 2,
    ...                "hidden_dim": 8, "intermediate_dim": 16, "max_sequence_length": 8}}
    >>> config = backbone_config_from_keras_hub(keras_hub_config)
    >>> config["registered_name"], config["config"]["masked_lm_layer_norm_epsilon"]
    ('cloze>BertBackbone', 1e-05)
    """
    class_name = _supported_class(config.get("registered_name", ""), "keras_hub", file)
    model = KERAS_HUB_MASKED_LMS[class_name][0]
    return {"module": f"cloze.models.backbones.{model}_backbone", "class_name": class_name,
            "config": {**config["config"], **keras_hub_numerics()},
            "registered_name": f"cloze>{class_name}"}


def backbone_config_to_keras_hub(backbone: Backbone) -> dict:
    """keras-hub's serialized backbone equivalent to Cloze's ``backbone``.

    Raises ``ValueError`` when ``backbone`` uses numerics keras-hub cannot express.

    Example:
    >>> from cloze.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16, max_sequence_length=8)
    >>> backbone_config_to_keras_hub(backbone)["registered_name"]
    'keras_hub>BertBackbone'
    >>> backbone_config_to_keras_hub(BertBackbone(**{**backbone.get_config(),
    ...                                              "activation": "gelu"}))
    Traceback (most recent call last):
    ...
    ValueError: BertBackbone has activation='gelu', which keras-hub's BertBackbone cannot express; it fixes activation='cloze>gelu_approximate'.
    """
    class_name = _supported_class(
        keras.saving.get_registered_name(type(backbone)), "cloze", type(backbone).__name__)
    config = backbone.get_config()
    for field, fixed in keras_hub_numerics().items():
        value = config.pop(field)
        if value != fixed:
            raise ValueError(f"{class_name} has {field}={_readable(value)!r}, which keras-hub's "
                             f"{class_name} cannot express; it fixes "
                             f"{field}={_readable(fixed)!r}.")
    model = KERAS_HUB_MASKED_LMS[class_name][0]
    return {"module": f"keras_hub.src.models.{model}.{model}_backbone",
            "class_name": class_name, "config": config,
            "registered_name": f"keras_hub>{class_name}"}


def _layer_ids(model: keras.Model) -> set:
    return {id(layer) for layer in model._flatten_layers()}


def _write_json(config: dict, preset_dir: str, name: str) -> None:
    with open(os.path.join(preset_dir, name), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=4)


def load_keras_hub_preset(preset: str, load_weights: bool = True):
    """Builds the Cloze model that a keras-hub preset directory describes.

    A preset with a ``task.json`` (``BertMaskedLM`` or ``AlbertMaskedLM``) gives a
    ``MaskedLM`` with the head weights of ``task.weights.h5``; one without gives
    the backbone of ``config.json``. The preprocessor is not translated: the
    task comes back without one. ``save_to_preset`` then writes it as a Cloze preset.
    """
    config_file = os.path.join(preset, presets.CONFIG_FILE)
    backbone = keras.saving.deserialize_keras_object(backbone_config_from_keras_hub(
        presets.load_json(preset, presets.CONFIG_FILE), config_file))
    if load_weights:
        backbone.load_weights(presets.preset_file(preset, presets.MODEL_WEIGHTS_FILE))
    if not os.path.exists(os.path.join(preset, presets.TASK_CONFIG_FILE)):
        return backbone
    task_class = KERAS_HUB_MASKED_LMS[type(backbone).__name__][1]
    registered_name = presets.load_json(preset, presets.TASK_CONFIG_FILE).get("registered_name")
    if registered_name != f"keras_hub>{task_class}":
        raise presets.PresetError(
            f"{os.path.join(preset, presets.TASK_CONFIG_FILE)} describes {registered_name!r}; "
            f"expected 'keras_hub>{task_class}' to go with the {type(backbone).__name__} "
            f"of {config_file}.")
    task = MaskedLM(backbone)
    task_weights = os.path.join(preset, presets.TASK_WEIGHTS_FILE)
    if load_weights and os.path.exists(task_weights):
        # keras-hub's task file nests the head under the task, as keras saves a model.
        keras.saving.load_weights(task, task_weights, objects_to_skip=_layer_ids(backbone))
    return task


def save_keras_hub_preset(model, preset_dir: str) -> None:
    """Writes a Cloze ``MaskedLM`` or backbone as a preset keras-hub's ``from_preset`` loads.

    Writes ``config.json``, ``model.weights.h5`` and ``metadata.json``, plus
    ``task.json`` and ``task.weights.h5`` for a ``MaskedLM``. The preprocessor is
    not translated, so load the task in keras-hub with ``preprocessor=None``.

    Example:
    >>> import tempfile
    >>> from cloze.models import BertBackbone
    >>> task = MaskedLM(BertBackbone(vocabulary_size=20, num_layers=1, num_heads=2,
    ...                              hidden_dim=8, intermediate_dim=16, max_sequence_length=8))
    >>> preset = tempfile.mkdtemp()
    >>> save_keras_hub_preset(task, preset)
    >>> sorted(os.listdir(preset))
    ['config.json', 'metadata.json', 'model.weights.h5', 'task.json', 'task.weights.h5']
    >>> type(load_keras_hub_preset(preset)).__name__
    'MaskedLM'
    """
    backbone = model.backbone if isinstance(model, MaskedLM) else model
    backbone_config = backbone_config_to_keras_hub(backbone)
    os.makedirs(preset_dir, exist_ok=True)
    _write_json(backbone_config, preset_dir, presets.CONFIG_FILE)
    backbone.save_weights(os.path.join(preset_dir, presets.MODEL_WEIGHTS_FILE))
    presets.save_metadata(backbone, preset_dir)
    if backbone is model:
        return
    model_name, task_class = KERAS_HUB_MASKED_LMS[backbone_config["class_name"]]
    _write_json({"module": f"keras_hub.src.models.{model_name}.{model_name}_masked_lm",
                 "class_name": task_class,
                 "config": {"name": model.name, "backbone": backbone_config,
                            "preprocessor": None},
                 "registered_name": f"keras_hub>{task_class}"},
                preset_dir, presets.TASK_CONFIG_FILE)
    keras.saving.save_weights(model, os.path.join(preset_dir, presets.TASK_WEIGHTS_FILE),
                              objects_to_skip=_layer_ids(backbone))
