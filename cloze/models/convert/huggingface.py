"""Hugging Face checkpoint directories to Cloze ``MaskedLM``s and back.

Each architecture has an ``HFConverter`` (one module per architecture),
registered in ``CONVERTERS`` under the ``model_type`` of ``config.json``.
"""
import json
import os

import numpy as np

from cloze.models.convert import checkpoint, weights
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.hf_albert import AlbertConverter
from cloze.models.convert.hf_bert import BertConverter
from cloze.models.convert.hf_deberta_v2 import DebertaV2Converter
from cloze.models.convert.hf_distil_bert import DistilBertConverter
from cloze.models.convert.hf_f_net import FNetConverter
from cloze.models.convert.hf_roberta import RobertaConverter, XLMRobertaConverter
from cloze.models.convert.hf_roberta_pre_ln import RobertaPreLNConverter
from cloze.models.preprocessors.masked_lm_preprocessor import MaskedLMPreprocessor
from cloze.models.tasks.causal_lm import CausalLM
from cloze.models.tasks.masked_lm import MaskedLM
from cloze.models.tokenizers.byte_pair_tokenizer import BytePairTokenizer, write_merges
from cloze.models.tokenizers.sentence_piece_tokenizer import SentencePieceTokenizer

CONVERTERS = {converter.model_type: converter for converter in (
    AlbertConverter(), BertConverter(), DebertaV2Converter(), DistilBertConverter(),
    FNetConverter(), RobertaConverter(), RobertaPreLNConverter(), XLMRobertaConverter())}
# Hugging Face names an architecture's heads alike: <Model>ForMaskedLM, <Model>ForCausalLM.
MASKED_LM_SUFFIX, CAUSAL_LM_SUFFIX = "ForMaskedLM", "ForCausalLM"


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


def load_hf(checkpoint_dir: str, sequence_length: int = None):
    """Loads a local Hugging Face masked-LM checkpoint as a Cloze ``MaskedLM``.

    Reads ``config.json``, ``model.safetensors`` (never a pickled
    ``pytorch_model.bin``) and, where present, the tokenizer files, and returns
    the task with its backbone, masked-LM head and preprocessor (None when the
    directory has no tokenizer Cloze can read). A checkpoint whose
    ``architectures`` name a ``...ForCausalLM`` loads as a ``CausalLM`` (its
    backbone must be a decoder), without a preprocessor.

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
    if any(name.endswith(CAUSAL_LM_SUFFIX) for name in config.get("architectures") or ()):
        task = CausalLM(converter.backbone_from_config(config))
    else:
        backbone = converter.backbone_from_config(config)
        preprocessor = (
            converter.preprocessor_from_checkpoint(checkpoint_dir, config, sequence_length)
            or tokenizer_file_preprocessor(checkpoint_dir, config,
                                           sequence_length or backbone.max_sequence_length))
        task = MaskedLM(backbone, preprocessor)
    weights.assign(converter.weight_mappings(task, tensors), tensors, source)
    return task


# The SentencePiece and byte-level BPE files of a Hugging Face checkpoint, and the
# tokenizer class its tokenizer_config.json names; WordPiece (vocab.txt) is the converters'.
ALBERT_SPIECE, XLM_ROBERTA_SPIECE = "spiece.model", "sentencepiece.bpe.model"
BPE_VOCABULARY, BPE_MERGES = "vocab.json", "merges.txt"
HF_TOKENIZER_CONFIG = "tokenizer_config.json"


def tokenizer_file_preprocessor(checkpoint_dir: str, config, sequence_length: int):
    """A preprocessor from the SentencePiece or byte-level BPE files of a checkpoint, or None.

    ``spiece.model``: ALBERT's layout (lower-cased as ``tokenizer_config.json``'s
    ``do_lower_case`` says, default True); ``sentencepiece.bpe.model``: XLM-R's
    fairseq layout; ``vocab.json`` with ``merges.txt``: RoBERTa's byte-level BPE.
    """
    def path(name):
        return os.path.join(checkpoint_dir, name)

    if os.path.isfile(path(ALBERT_SPIECE)):
        tokenizer_config = {}
        if os.path.isfile(path(HF_TOKENIZER_CONFIG)):
            with open(path(HF_TOKENIZER_CONFIG), encoding="utf-8") as f:
                tokenizer_config = json.load(f)
        tokenizer = SentencePieceTokenizer(
            path(ALBERT_SPIECE), layout="albert",
            lowercase=tokenizer_config.get("do_lower_case", True))
    elif os.path.isfile(path(XLM_ROBERTA_SPIECE)):
        tokenizer = SentencePieceTokenizer(path(XLM_ROBERTA_SPIECE), layout="xlm_roberta")
    elif os.path.isfile(path(BPE_VOCABULARY)) and os.path.isfile(path(BPE_MERGES)):
        tokenizer = BytePairTokenizer(path(BPE_VOCABULARY), path(BPE_MERGES))
    else:
        return None
    if tokenizer.vocabulary_size() > config.require("vocab_size"):
        raise ConversionError(f"the tokenizer files in {checkpoint_dir!r} hold "
                              f"{tokenizer.vocabulary_size()} tokens but {config.path} says "
                              f"vocab_size={config.require('vocab_size')}.")
    return MaskedLMPreprocessor(tokenizer, sequence_length=sequence_length)


def save_tokenizer_files(preprocessor, converter, out_dir: str) -> None:
    """Writes the files ``tokenizer_file_preprocessor`` (and Hugging Face) read back.

    SentencePiece and byte-level BPE tokenizers are written here, whatever the
    architecture; WordPiece by the architecture's converter.
    """
    tokenizer = preprocessor.tokenizer
    if isinstance(tokenizer, SentencePieceTokenizer):
        albert = tokenizer.layout == "albert"
        with open(os.path.join(out_dir, ALBERT_SPIECE if albert else XLM_ROBERTA_SPIECE),
                  "wb") as f:
            f.write(tokenizer.proto)
        tokenizer_config = ({"tokenizer_class": "AlbertTokenizer",
                             "do_lower_case": tokenizer.lowercase} if albert
                            else {"tokenizer_class": "XLMRobertaTokenizer"})
    elif isinstance(tokenizer, BytePairTokenizer):
        with open(os.path.join(out_dir, BPE_VOCABULARY), "w", encoding="utf-8") as f:
            json.dump({token: i for i, token in enumerate(tokenizer.vocabulary)}, f,
                      ensure_ascii=False)
        write_merges(tokenizer.merges, os.path.join(out_dir, BPE_MERGES))
        tokenizer_config = {"tokenizer_class": "RobertaTokenizer"}
    else:
        converter.save_tokenizer(preprocessor, out_dir)
        return
    with open(os.path.join(out_dir, HF_TOKENIZER_CONFIG), "w", encoding="utf-8") as f:
        json.dump(dict(tokenizer_config, model_max_length=preprocessor.sequence_length), f,
                  indent=2)


def export_hf(task, out_dir: str) -> None:
    """Writes ``task`` as a Hugging Face checkpoint directory.

    ``config.json``, ``model.safetensors`` and (with a preprocessor) the
    tokenizer files, loadable by the architecture's ``...ForMaskedLM``
    (``BertForMaskedLM`` for a ``BertBackbone``), or ``...ForCausalLM`` for a
    ``CausalLM``, with the same logits.
    """
    converter = converter_for_backbone(task.backbone)
    config = converter.config_from_backbone(task.backbone)
    if isinstance(task, CausalLM):
        config["architectures"] = [
            converter.architecture.removesuffix(MASKED_LM_SUFFIX) + CAUSAL_LM_SUFFIX]
    if task.preprocessor is not None:
        config["pad_token_id"] = task.preprocessor.tokenizer.pad_token_id
    checkpoint.write_config(config, out_dir)
    checkpoint.write_weights(
        converter.unfold_tensors(weights.collect(converter.weight_mappings(task))), out_dir)
    if task.preprocessor is not None:
        save_tokenizer_files(task.preprocessor, converter, out_dir)


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
