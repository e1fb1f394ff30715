"""Reading and writing preset directories in keras-hub's layout.

A preset directory holds::

    config.json            backbone config (keras serialized object)
    model.weights.h5       backbone weights
    metadata.json          versions, parameter count, save date
    task.json              task config (backbone + preprocessor nested)
    task.weights.h5        task-only weights (the masked-LM head)
    preprocessor.json      preprocessor config
    tokenizer.json         tokenizer config
    assets/tokenizer/vocabulary.txt
"""
import datetime
import json
import os

import keras

CONFIG_FILE = "config.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
TOKENIZER_ASSET_DIR = os.path.join("assets", "tokenizer")


KAGGLE_PREFIX = "kaggle://"
HF_PREFIX = "hf://"


class PresetError(ValueError):
    """A preset cannot be found or does not hold what was asked of it."""


def resolve_handle(preset: str) -> str:
    """A local directory for ``preset``: a path as is, ``hf://org/name`` from the local
    Hugging Face cache. ``kaggle://`` handles need the network and are refused.
    """
    if preset.startswith(KAGGLE_PREFIX):
        raise PresetError(
            f"{preset}: Kaggle handles need a download, and Cloze runs offline; download the "
            f"model elsewhere and pass its local directory instead.")
    if preset.startswith(HF_PREFIX):
        return hugging_face_cache_dir(preset[len(HF_PREFIX):])
    return preset


def is_hugging_face_checkpoint(preset: str) -> bool:
    """A ``save_pretrained`` directory: its ``config.json`` has ``model_type``, not a
    Keras ``registered_name``."""
    path = os.path.join(preset, CONFIG_FILE)
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return "model_type" in config and "registered_name" not in config


def hugging_face_cache_dir(repo_id: str) -> str:
    """The cached snapshot of Hugging Face model ``org/name`` (``refs/main``, else the
    newest snapshot) under ``$HF_HUB_CACHE`` or ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``.
    """
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")),
        "hub")
    repo_dir = os.path.join(hub, "models--" + repo_id.replace("/", "--"))
    snapshots = os.path.join(repo_dir, "snapshots")
    if not os.path.isdir(snapshots) or not os.listdir(snapshots):
        raise PresetError(f"hf://{repo_id} is not in the local Hugging Face cache ({repo_dir}); "
                          f"Cloze does not download: fetch it with huggingface-cli on a "
                          f"connected machine, or pass a checkpoint directory.")
    ref = os.path.join(repo_dir, "refs", "main")
    if os.path.exists(ref):
        with open(ref, encoding="utf-8") as f:
            return os.path.join(snapshots, f.read().strip())
    return max((os.path.join(snapshots, d) for d in os.listdir(snapshots)), key=os.path.getmtime)


def preset_file(preset: str, name: str) -> str:
    """The path of ``name`` inside preset directory ``preset``, which must exist."""
    if not os.path.isdir(preset):
        raise PresetError(f"preset {preset!r} is not a directory; pass a preset "
                          f"directory written by save_to_preset().")
    path = os.path.join(preset, name)
    if not os.path.exists(path):
        raise PresetError(f"preset {preset!r} has no {name}.")
    return path


def load_json(preset: str, name: str) -> dict:
    with open(preset_file(preset, name), encoding="utf-8") as f:
        return json.load(f)


def save_serialized(obj, preset_dir: str, name: str) -> None:
    """Writes ``obj``'s keras serialization, minus build and compile state."""
    config = keras.saving.serialize_keras_object(obj)
    _drop_keys(config, ("build_config", "compile_config"))
    os.makedirs(preset_dir, exist_ok=True)
    with open(os.path.join(preset_dir, name), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=4)


def load_serialized(preset: str, name: str, base_cls, **overrides):
    """Deserializes ``name`` from ``preset``; the class must subclass ``base_cls``."""
    config = load_json(preset, name)
    cls = keras.saving.get_registered_object(config.get("registered_name", ""))
    if cls is None or not issubclass(cls, base_cls):
        raise PresetError(f"{os.path.join(preset, name)} describes "
                          f"{config.get('registered_name')!r}, which is not a "
                          f"{base_cls.__name__}.")
    config["config"] = {**config["config"], **overrides}
    return keras.saving.deserialize_keras_object(config)


def save_metadata(model, preset_dir: str) -> None:
    from cloze import __version__

    metadata = {
        "keras_version": keras.version(),
        "cloze_version": __version__,
        "parameter_count": model.count_params(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    with open(os.path.join(preset_dir, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=4)


def _drop_keys(config: dict, keys) -> None:
    for key in keys:
        config.pop(key, None)
    for value in config.values():
        if isinstance(value, dict):
            _drop_keys(value, keys)
