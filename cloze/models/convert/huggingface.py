"""Hugging Face checkpoint directories to Cloze ``MaskedLM``s and back.

Each architecture has an ``HFConverter`` (one module per architecture),
registered in ``CONVERTERS`` under the ``model_type`` of ``config.json``.
"""
import os

import numpy as np

from cloze.models.convert import checkpoint, weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.hf_albert import AlbertConverter
from cloze.models.convert.hf_bert import BertConverter
from cloze.models.convert.hf_distil_bert import DistilBertConverter
from cloze.models.convert.hf_roberta import RobertaConverter, XLMRobertaConverter
from cloze.models.convert.hf_roberta_pre_ln import RobertaPreLNConverter
from cloze.models.tasks.masked_lm import MaskedLM

CONVERTERS = {converter.model_type: converter for converter in (
    AlbertConverter(), BertConverter(), DistilBertConverter(), RobertaConverter(),
    RobertaPreLNConverter(), XLMRobertaConverter())}


def converter_for_config(config):
    """The converter of the checkpoint's ``model_type``."""
    model_type = config.require("model_type")
    if model_type not in CONVERTERS:
        raise ConversionError(f"{config.path}: model_type={model_type!r} is not supported yet; "
                              f"supported: {sorted(CONVERTERS)}.")
    return CONVERTERS[model_type]


def converter_for_backbone(backbone):
    """The converter whose backbone class ``backbone`` is."""
    for converter in CONVERTERS.values():
        if type(backbone) is converter.backbone_class:
            return converter
    supported = sorted(c.backbone_class.__name__ for c in CONVERTERS.values())
    raise ConversionError(f"cannot export a {type(backbone).__name__} to Hugging Face yet; "
                          f"supported backbones: {supported}.")


def check_tied(tensors: dict, tied: dict, source: str) -> None:
    """Cloze ties the masked-LM decoder to the embeddings: refuses untied copies."""
    for copy, original in tied.items():
        if copy in tensors and not np.array_equal(tensors[copy], tensors[original]):
            raise ConversionError(f"{source}: {copy} differs from {original}; Cloze's masked-LM "
                                  f"head is tied to them, so it cannot hold this model.")


def load_hf(checkpoint_dir: str, sequence_length: int = None) -> MaskedLM:
    """Loads a local Hugging Face masked-LM checkpoint as a Cloze ``MaskedLM``.

    Reads ``config.json``, ``model.safetensors`` (never a pickled
    ``pytorch_model.bin``) and, where present, the tokenizer files, and returns
    the task with its backbone, masked-LM head and preprocessor (None when the
    directory has no tokenizer Cloze can read).

    Args:
        checkpoint_dir: a directory written by ``save_pretrained``.
        sequence_length: the preprocessor's packed length; defaults to the
            model's ``max_position_embeddings``.

    Example:
    >>> import tempfile
    >>> from cloze.models import BertBackbone, MaskedLM
    >>> task = MaskedLM(BertBackbone(30, 1, 2, 8, 16, max_sequence_length=16,
    ...                              activation="gelu", masked_lm_layer_norm_epsilon=1e-12))
    >>> out = tempfile.mkdtemp()
    >>> export_hf(task, out)
    >>> type(load_hf(out).backbone).__name__
    'BertBackbone'
    """
    config = checkpoint.read_config(checkpoint_dir)
    converter = converter_for_config(config)
    tensors = checkpoint.read_weights(checkpoint_dir)
    source = os.path.join(checkpoint_dir, checkpoint.WEIGHTS_FILE)
    check_tied(tensors, converter.tied_tensors, source)
    tensors = converter.fold_tensors(tensors)
    preprocessor = converter.preprocessor_from_checkpoint(checkpoint_dir, config, sequence_length)
    task = MaskedLM(converter.backbone_from_config(config), preprocessor)
    weights.assign(converter.weight_mappings(task, tensors), tensors, source)
    return task


def export_hf(task: MaskedLM, out_dir: str) -> None:
    """Writes ``task`` as a Hugging Face checkpoint directory.

    ``config.json``, ``model.safetensors`` and (with a preprocessor) the
    tokenizer files, loadable by the architecture's ``...ForMaskedLM``
    (``BertForMaskedLM`` for a ``BertBackbone``) with the same logits.
    """
    converter = converter_for_backbone(task.backbone)
    config = converter.config_from_backbone(task.backbone)
    if task.preprocessor is not None:
        config["pad_token_id"] = task.preprocessor.tokenizer.pad_token_id
    checkpoint.write_config(config, out_dir)
    checkpoint.write_weights(
        converter.unfold_tensors(weights.collect(converter.weight_mappings(task))), out_dir)
    if task.preprocessor is not None:
        converter.save_tokenizer(task.preprocessor, out_dir)


def convert(src: str, dst: str, to: str = "cloze") -> None:
    """``cloze convert``: a Hugging Face checkpoint to a Cloze preset, or back with ``to="hf"``.

    Args:
        src: a Hugging Face checkpoint directory (``to="cloze"``) or a Cloze
            ``MaskedLM`` preset (``to="hf"``).
        dst: the directory to write.
        to: ``"cloze"`` or ``"hf"``.
    """
    if to == "cloze":
        load_hf(src).save_to_preset(dst)
    elif to == "hf":
        export_hf(MaskedLM.from_preset(src), dst)
    else:
        raise ConversionError(f"convert: to={to!r} is not one of ['cloze', 'hf'].")
