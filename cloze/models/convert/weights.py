"""Which Keras variable is which Hugging Face tensor, and how each is laid out.

A converter lists ``TensorMapping``s once; the same list loads a checkpoint
(``assign``) and exports one (``collect``), so the two directions cannot drift.
"""
import dataclasses
from typing import Callable

import keras
import numpy as np

from cloze.models.convert.checkpoint import ConversionError


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a Hugging Face tensor maps onto a Keras variable's shape and back.

    Args:
        to_keras: ``(hf_array, keras_shape) -> keras_array``.
        to_hf: ``keras_array -> hf_array``.
    """

    to_keras: Callable
    to_hf: Callable


# Embedding tables have the same layout in both libraries.
TABLE = Layout(lambda array, shape: array.reshape(shape), lambda array: array)
# Biases and norm parameters; attention biases are (heads, head_dim) in Keras.
VECTOR = Layout(lambda array, shape: array.reshape(shape), lambda array: array.reshape(-1))


def linear(input_axes: int = 1) -> Layout:
    """A ``torch.nn.Linear`` weight ``(out, in)`` as a Keras kernel ``(in..., out...)``.

    ``input_axes`` counts the kernel's leading axes that make up ``in``: 1 for a
    Dense or attention query/key/value kernel, 2 for the attention output
    kernel ``(heads, head_dim, hidden)``.

    Example:
    >>> weight = np.arange(6.0).reshape(3, 2)
    >>> kernel = linear().to_keras(weight, (2, 3))
    >>> bool((kernel == weight.T).all()), bool((linear().to_hf(kernel) == weight).all())
    (True, True)
    """
    return Layout(
        lambda array, shape: array.T.reshape(shape),
        lambda array: array.reshape(int(np.prod(array.shape[:input_axes])), -1).T)


@dataclasses.dataclass(frozen=True)
class TensorMapping:
    """One Keras variable and the Hugging Face tensor it corresponds to."""

    variable: keras.Variable
    hf_name: str
    layout: Layout = TABLE


def dense(layer, hf_prefix: str, input_axes: int = 1) -> list:
    """A Dense or EinsumDense layer as ``<hf_prefix>.weight`` and ``<hf_prefix>.bias``."""
    return [TensorMapping(layer.kernel, f"{hf_prefix}.weight", linear(input_axes)),
            TensorMapping(layer.bias, f"{hf_prefix}.bias", VECTOR)]


def layer_norm(layer, hf_prefix: str) -> list:
    """A LayerNormalization as ``<hf_prefix>.weight`` (scale) and ``<hf_prefix>.bias``."""
    return [TensorMapping(layer.gamma, f"{hf_prefix}.weight", VECTOR),
            TensorMapping(layer.beta, f"{hf_prefix}.bias", VECTOR)]


def transformer_encoder(block, hf_layer: str, hf_suffixes: dict) -> list:
    """A ``TransformerEncoder``'s variables under Hugging Face layer ``hf_layer``.

    Args:
        block: a built ``TransformerEncoder``.
        hf_layer: the layer's module path, e.g. ``bert.encoder.layer.0``.
        hf_suffixes: the module path below ``hf_layer`` of each sub-layer:
            ``query``, ``key``, ``value``, ``attention_output``,
            ``attention_layer_norm``, ``intermediate``, ``output`` and
            ``output_layer_norm`` (the norm before attention and the one before
            the feed-forward network in a pre-LayerNorm block).
    """
    name = {role: f"{hf_layer}.{suffix}" for role, suffix in hf_suffixes.items()}
    attention = block._self_attention_layer
    return (dense(attention.query_dense, name["query"])
            + dense(attention.key_dense, name["key"])
            + dense(attention.value_dense, name["value"])
            + dense(attention.output_dense, name["attention_output"], input_axes=2)
            + layer_norm(block._self_attention_layer_norm, name["attention_layer_norm"])
            + dense(block._feedforward_intermediate_dense, name["intermediate"])
            + dense(block._feedforward_output_dense, name["output"])
            + layer_norm(block._feedforward_layer_norm, name["output_layer_norm"]))


def stacked_encoders(backbone, hf_layers: str, hf_suffixes: dict) -> list:
    """Every ``transformer_layer_<i>`` of ``backbone`` as Hugging Face's ``<hf_layers>.<i>``."""
    return [mapping for i in range(backbone.num_layers)
            for mapping in transformer_encoder(backbone.get_layer(f"transformer_layer_{i}"),
                                               f"{hf_layers}.{i}", hf_suffixes)]


def assign(mappings: list, tensors: dict, source: str) -> None:
    """Loads ``tensors`` (Hugging Face names to arrays, read from ``source``) into the variables."""
    missing = [m.hf_name for m in mappings if m.hf_name not in tensors]
    if missing:
        raise ConversionError(f"{source} lacks {len(missing)} tensor(s) the model needs, "
                              f"e.g. {missing[:4]}.")
    for m in mappings:
        array = tensors[m.hf_name]
        shape = tuple(m.variable.shape)
        expected = m.layout.to_hf(np.zeros(shape)).shape
        if array.shape != expected:
            raise ConversionError(f"{source}: {m.hf_name} has shape {array.shape}; the model "
                                  f"needs {expected} for {m.variable.path}.")
        m.variable.assign(m.layout.to_keras(array, shape).astype(m.variable.dtype))


def collect(mappings: list) -> dict:
    """The variables as Hugging Face tensors, by name."""
    return {m.hf_name: m.layout.to_hf(keras.ops.convert_to_numpy(m.variable))
            for m in mappings}


def masked_lm_head(head, dense_prefix: str, layer_norm_prefix: str, bias_name: str) -> list:
    """A tied ``MaskedLMHead``: transform dense, transform layer norm and output bias."""
    return [*dense(head._intermediate_dense, dense_prefix),
            *layer_norm(head._intermediate_layer_norm, layer_norm_prefix),
            TensorMapping(head._bias, bias_name, VECTOR)]


def text_embeddings(layer, hf_prefix: str) -> list:
    """A ``TextEmbeddings`` layer as ``<hf_prefix>.*_embeddings`` and ``<hf_prefix>.LayerNorm``."""
    mappings = [TensorMapping(layer.token_embedding.embeddings,
                              f"{hf_prefix}.word_embeddings.weight")]
    if layer.position_embedding is not None:
        table = (layer.position_embedding.position_embeddings
                 if layer.position_ids == "sequential" else layer.position_embedding.embeddings)
        mappings.append(TensorMapping(table, f"{hf_prefix}.position_embeddings.weight"))
    if layer.segment_embedding is not None:
        mappings.append(TensorMapping(layer.segment_embedding.embeddings,
                                      f"{hf_prefix}.token_type_embeddings.weight"))
    return mappings + layer_norm(layer.layer_norm, f"{hf_prefix}.LayerNorm")
