"""Reading and writing the files of a Hugging Face checkpoint directory.

Only safetensors weights are read: a ``pytorch_model.bin`` is a pickle, and
unpickling a file from elsewhere can run arbitrary code.
"""
import json
import math
import os

import numpy as np
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLED_WEIGHTS_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class ConversionError(ValueError):
    """A checkpoint cannot be converted; the message names the file and what was wrong."""


class HFConfig:
    """The fields of a checkpoint's ``config.json``, with errors that name the file.

    Args:
        values: the parsed JSON object.
        path: where it was read from, for messages.

    Example:
    >>> config = HFConfig({"model_type": "bert", "hidden_size": 32}, "ckpt/config.json")
    >>> config.require("hidden_size"), config.get("layer_norm_eps", 1e-12)
    (32, 1e-12)
    >>> config.require("vocab_size")
    Traceback (most recent call last):
    ...
    cloze.models.convert.checkpoint.ConversionError: ckpt/config.json has no field 'vocab_size'.
    """

    def __init__(self, values: dict, path: str):
        self.values = values
        self.path = path

    def require(self, name):
        if name not in self.values:
            raise ConversionError(f"{self.path} has no field {name!r}.")
        return self.values[name]

    def get(self, name, default=None):
        return self.values.get(name, default)

    def expect(self, name, allowed, default=None, why=""):
        """The field's value, which must be one of ``allowed``."""
        value = self.values.get(name, default)
        if value not in allowed:
            raise ConversionError(f"{self.path}: {name}={value!r} is not supported; expected one "
                                  f"of {list(allowed)}{'. ' + why if why else '.'}")
        return value

    def expect_close(self, name, expected: float, default=None):
        """Refuses a float field (a layer-norm epsilon) other than ``expected``."""
        value = self.values.get(name, expected if default is None else default)
        if not math.isclose(value, expected):
            raise ConversionError(f"{self.path}: {name}={value!r} is not supported; the Cloze "
                                  f"backbone uses {expected}.")


def read_config(checkpoint_dir: str) -> HFConfig:
    """The checkpoint's ``config.json``."""
    path = os.path.join(checkpoint_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise ConversionError(f"{checkpoint_dir!r} has no {CONFIG_FILE}; pass a Hugging Face "
                              f"checkpoint directory written by save_pretrained().")
    with open(path, encoding="utf-8") as f:
        return HFConfig(json.load(f), path)


def modern_name(name: str) -> str:
    """Renames a TensorFlow-era layer-norm tensor the way transformers does on load.

    Checkpoints converted from the original TensorFlow BERT (``bert-base-uncased``
    among them) still call the scale and offset ``gamma`` and ``beta``.

    Example:
    >>> modern_name("bert.embeddings.LayerNorm.gamma"), modern_name("cls.predictions.bias")
    ('bert.embeddings.LayerNorm.weight', 'cls.predictions.bias')
    """
    for old, new in ((".gamma", ".weight"), (".beta", ".bias")):
        if name.endswith(old):
            return name[: -len(old)] + new
    return name


def read_weights(checkpoint_dir: str) -> dict:
    """Every tensor of ``model.safetensors`` (or of its shards) as a numpy array by name.

    Names are ``modern_name``s.
    """
    single = os.path.join(checkpoint_dir, WEIGHTS_FILE)
    index = os.path.join(checkpoint_dir, WEIGHTS_INDEX_FILE)
    if os.path.isfile(single):
        tensors = load_file(single)
    elif os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {name: array for shard in shards
                   for name, array in load_file(os.path.join(checkpoint_dir, shard)).items()}
    else:
        raise missing_weights_error(checkpoint_dir)
    return {modern_name(name): array for name, array in tensors.items()}


def missing_weights_error(checkpoint_dir: str) -> ConversionError:
    """Explains why a checkpoint without safetensors weights is refused."""
    pickled = [name for name in PICKLED_WEIGHTS_FILES
               if os.path.isfile(os.path.join(checkpoint_dir, name))]
    if pickled:
        return ConversionError(
            f"{checkpoint_dir!r} holds {pickled[0]} but no {WEIGHTS_FILE}. Cloze refuses pickled "
            f"PyTorch weights (loading them can run arbitrary code); in an environment you "
            f"trust, re-save the model with save_pretrained(dir, safe_serialization=True).")
    return ConversionError(f"{checkpoint_dir!r} has no {WEIGHTS_FILE} or {WEIGHTS_INDEX_FILE}.")


def write_config(values: dict, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True)


def write_weights(tensors: dict, out_dir: str) -> None:
    """Writes ``model.safetensors`` with the metadata transformers checks for."""
    os.makedirs(out_dir, exist_ok=True)
    save_file({name: np.ascontiguousarray(array) for name, array in tensors.items()},
              os.path.join(out_dir, WEIGHTS_FILE), metadata={"format": "pt"})
