"""Conversion between Cloze models and other libraries' checkpoints."""
from cloze.models.convert.checkpoint import ConversionError
from cloze.models.convert.huggingface import CONVERTERS, convert, export_hf, load_hf

__all__ = ["CONVERTERS", "ConversionError", "convert", "export_hf", "load_hf"]
