"""Moving weights between Cloze models and keras-hub's.

Cloze's backbones, encoder block and masked-LM head name their layers the way
keras-hub's do, so a variable's ``path`` (``transformer_layer_0/self_attention_layer/
query/kernel``, ``mlm_head/output_bias``) names the same tensor in both
libraries, and their presets share one layout. For BERT, ALBERT and DeBERTaV3
the weight files match too, and converting a preset only translates its
configs; RoBERTa, XLM-RoBERTa, DistilBERT and FNet keep their embeddings in one
``TextEmbeddings`` layer, so ``translate_weights_file`` also moves those groups
(and shifts RoBERTa's position rows). Nothing here imports keras-hub.
"""
import dataclasses
import json
import os
import posixpath
import shutil
import tempfile

import h5py
import keras
import numpy as np
from keras.src.utils.naming import to_snake_case

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


@dataclasses.dataclass(frozen=True)
class KerasHubModel:
    """How one keras-hub backbone (and its masked LM) maps onto the Cloze class of the same name.

    Args:
        folder: the model's folder in ``keras_hub.src.models``; Cloze's backbone
            module is ``cloze.models.backbones.<folder>_backbone`` alike.
        task_class: keras-hub's masked-LM class.
        fixed: serialized constructor arguments Cloze adds and keras-hub fixes in
            code, at keras-hub's values; keras-hub's configs never mention them.
        weight_groups: keras-hub weight-file groups and the Cloze groups holding
            the same variables, where the two layouts differ (the embedding stage).
        position_offset: rows Cloze's position table has before keras-hub's
            first one (RoBERTa numbers positions from ``pad_token_id + 1``).
    """

    folder: str
    task_class: str
    fixed: dict
    weight_groups: dict = dataclasses.field(default_factory=dict)
    position_offset: int = 0


# Where ``TextEmbeddings`` keeps what keras-hub's embedding layers hold.
TEXT_EMBEDDINGS = "layers/text_embeddings"
TOKEN_AND_POSITION_EMBEDDING_GROUPS = {
    "layers/token_and_position_embedding/token_embedding": f"{TEXT_EMBEDDINGS}/token_embedding",
    "layers/token_and_position_embedding/position_embedding":
        f"{TEXT_EMBEDDINGS}/position_embedding",
    "layers/layer_normalization": f"{TEXT_EMBEDDINGS}/layer_norm",
}
POSITION_TABLE = f"{TEXT_EMBEDDINGS}/position_embedding/vars/0"
# keras-hub's BERT and ALBERT use the tanh-approximate GELU and a 1e-5 head layer norm.
BERT_NUMERICS = {"activation": keras.activations.serialize(gelu_approximate),
                 "masked_lm_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON}
# keras-hub's RoBERTa and XLM-RoBERTa tokenizers pad with id 1, which Cloze's
# position numbering counts from.
ROBERTA_PAD_TOKEN_ID = 1
ROBERTA = dict(fixed={"pad_token_id": ROBERTA_PAD_TOKEN_ID},
               weight_groups=TOKEN_AND_POSITION_EMBEDDING_GROUPS,
               position_offset=ROBERTA_PAD_TOKEN_ID + 1)

# keras-hub backbone class -> how it maps. Cloze registers its backbones under the
# same class names, in package "cloze".
KERAS_HUB_MASKED_LMS = {
    "BertBackbone": KerasHubModel("bert", "BertMaskedLM", BERT_NUMERICS),
    "AlbertBackbone": KerasHubModel("albert", "AlbertMaskedLM", BERT_NUMERICS),
    "RobertaBackbone": KerasHubModel("roberta", "RobertaMaskedLM", **ROBERTA),
    "XLMRobertaBackbone": KerasHubModel("xlm_roberta", "XLMRobertaMaskedLM", **ROBERTA),
    "DistilBertBackbone": KerasHubModel(
        "distil_bert", "DistilBertMaskedLM",
        {"masked_lm_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON},
        TOKEN_AND_POSITION_EMBEDDING_GROUPS),
    "FNetBackbone": KerasHubModel(
        "f_net", "FNetMaskedLM",
        {"masked_lm_activation": keras.activations.serialize(keras.activations.gelu),
         "masked_lm_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON},
        {"layers/reversible_embedding": f"{TEXT_EMBEDDINGS}/token_embedding",
         "layers/position_embedding": f"{TEXT_EMBEDDINGS}/position_embedding",
         "layers/embedding": f"{TEXT_EMBEDDINGS}/segment_embedding",
         "layers/layer_normalization": f"{TEXT_EMBEDDINGS}/layer_norm"}),
    # Same layers and weight file; keras-hub's head keeps a 1e-5 layer norm.
    "DebertaV3Backbone": KerasHubModel(
        "deberta_v3", "DebertaV3MaskedLM",
        {"masked_lm_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON}),
}


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
    model = KERAS_HUB_MASKED_LMS[class_name]
    return {"module": f"cloze.models.backbones.{model.folder}_backbone",
            "class_name": class_name, "config": {**config["config"], **model.fixed},
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
    model = KERAS_HUB_MASKED_LMS[class_name]
    config = backbone.get_config()
    for field, fixed in model.fixed.items():
        value = config.pop(field)
        if value != fixed:
            raise ValueError(f"{class_name} has {field}={_readable(value)!r}, which keras-hub's "
                             f"{class_name} cannot express; it fixes "
                             f"{field}={_readable(fixed)!r}.")
    return {"module": f"keras_hub.src.models.{model.folder}.{model.folder}_backbone",
            "class_name": class_name, "config": config,
            "registered_name": f"keras_hub>{class_name}"}


def translate_weights_file(path: str, class_name: str, to_cloze: bool, root: str = "") -> None:
    """Rewrites the backbone weights at ``root`` of file ``path`` between keras-hub's
    layout and Cloze's.

    Keras names a weight file's groups after layer classes, so the two layouts
    differ only where the layers do: the embedding stage (``weight_groups``) and,
    for RoBERTa, the position table, whose rows Cloze shifts by
    ``position_offset`` (keras-hub's positions start at 0; the rows before go
    to Cloze as zeros, and come back to keras-hub dropped). Outputs then agree
    at every real token of inputs padded at the end with the pad id. ``root`` is
    empty for a backbone's file and the backbone's group in a task's file.
    """
    model = KERAS_HUB_MASKED_LMS[class_name]
    if not model.weight_groups:
        return
    moves = (model.weight_groups.items() if to_cloze
             else ((cloze, hub) for hub, cloze in model.weight_groups.items()))
    table_name = posixpath.join(root, POSITION_TABLE)
    with h5py.File(path, "r+") as weights:
        if not to_cloze and model.position_offset:
            _replace(weights, table_name, weights[table_name][model.position_offset:])
        for source, target in moves:
            source, target = posixpath.join(root, source), posixpath.join(root, target)
            weights.require_group(posixpath.dirname(target))
            weights.move(source, target)
            _remove_empty_parents(weights, source)
        if to_cloze and model.position_offset:
            table = weights[table_name][()]
            padding = np.zeros((model.position_offset,) + table.shape[1:], table.dtype)
            _replace(weights, table_name, np.concatenate([padding, table]))


def _replace(weights, name: str, array) -> None:
    del weights[name]
    weights[name] = array


def _remove_empty_parents(weights, moved: str) -> None:
    """Deletes the groups that held only ``moved``."""
    parent = posixpath.dirname(moved)
    while parent and parent in weights and not len(weights[parent]):
        del weights[parent]
        parent = posixpath.dirname(parent)


def _all_layers(model: keras.Model) -> list:
    """``model`` and every layer in it: Keras's ``objects_to_skip`` takes objects, not ids."""
    return list(model._flatten_layers())


def _write_json(config: dict, preset_dir: str, name: str) -> None:
    with open(os.path.join(preset_dir, name), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=4)


def load_keras_hub_preset(preset: str, load_weights: bool = True):
    """Builds the Cloze model that a keras-hub preset directory describes.

    A preset with a ``task.json`` (one of the ``task_class``es of
    ``KERAS_HUB_MASKED_LMS``) gives a ``MaskedLM`` with the head weights of
    ``task.weights.h5``; one without gives the backbone of ``config.json``. The
    preprocessor is not translated: the task comes back without one.
    ``save_to_preset`` then writes it as a Cloze preset.
    """
    config_file = os.path.join(preset, presets.CONFIG_FILE)
    backbone = keras.saving.deserialize_keras_object(backbone_config_from_keras_hub(
        presets.load_json(preset, presets.CONFIG_FILE), config_file))
    class_name = type(backbone).__name__
    if load_weights:
        with tempfile.TemporaryDirectory() as scratch:
            weights_file = os.path.join(scratch, presets.MODEL_WEIGHTS_FILE)
            shutil.copyfile(presets.preset_file(preset, presets.MODEL_WEIGHTS_FILE), weights_file)
            translate_weights_file(weights_file, class_name, to_cloze=True)
            backbone.load_weights(weights_file)
    if not os.path.exists(os.path.join(preset, presets.TASK_CONFIG_FILE)):
        return backbone
    task_class = KERAS_HUB_MASKED_LMS[class_name].task_class
    registered_name = presets.load_json(preset, presets.TASK_CONFIG_FILE).get("registered_name")
    if registered_name != f"keras_hub>{task_class}":
        raise presets.PresetError(
            f"{os.path.join(preset, presets.TASK_CONFIG_FILE)} describes {registered_name!r}; "
            f"expected 'keras_hub>{task_class}' to go with the {class_name} "
            f"of {config_file}.")
    task = MaskedLM(backbone)
    task_weights = os.path.join(preset, presets.TASK_WEIGHTS_FILE)
    if load_weights and os.path.exists(task_weights):
        # keras-hub's task file nests the head under the task, as keras saves a model.
        keras.saving.load_weights(task, task_weights, objects_to_skip=_all_layers(backbone))
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
    weights_file = os.path.join(preset_dir, presets.MODEL_WEIGHTS_FILE)
    backbone.save_weights(weights_file)
    translate_weights_file(weights_file, backbone_config["class_name"], to_cloze=False)
    presets.save_metadata(backbone, preset_dir)
    if backbone is model:
        return
    hub = KERAS_HUB_MASKED_LMS[backbone_config["class_name"]]
    _write_json({"module": f"keras_hub.src.models.{hub.folder}.{hub.folder}_masked_lm",
                 "class_name": hub.task_class,
                 "config": {"name": model.name, "backbone": backbone_config,
                            "preprocessor": None},
                 "registered_name": f"keras_hub>{hub.task_class}"},
                preset_dir, presets.TASK_CONFIG_FILE)
    # keras-hub's loader expects its task file to hold the backbone too (it skips the
    # backbone by id where Keras wants objects, so nothing is skipped): write all of it.
    task_weights = os.path.join(preset_dir, presets.TASK_WEIGHTS_FILE)
    keras.saving.save_weights(model, task_weights)
    translate_weights_file(task_weights, backbone_config["class_name"], to_cloze=False,
                           root=f"layers/{to_snake_case(backbone_config['class_name'])}")
