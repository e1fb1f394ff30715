"""Built-in preset names: the architectures of keras-hub's masked-LM preset table.

Each name maps to a backbone class and its constructor arguments, so
``from_preset(name, load_weights=False)`` builds the architecture with random
weights without any download. No weights are shipped: pretrained weights come
from a converted checkpoint directory (``cloze convert``) or a preset directory.
Sizes follow the published configs (BERT, ALBERT, RoBERTa, XLM-R, DistilBERT,
DeBERTaV3, FNet, and RoBERTa-PreLN for "Should You Mask 15%...").
"""
import keras


def _bert(num_layers, hidden_dim, num_heads, vocabulary_size=30522):
    return ("BertBackbone", dict(vocabulary_size=vocabulary_size, num_layers=num_layers,
                                 num_heads=num_heads, hidden_dim=hidden_dim,
                                 intermediate_dim=4 * hidden_dim, max_sequence_length=512))


def _albert(num_layers, hidden_dim, num_heads):
    return ("AlbertBackbone", dict(vocabulary_size=30000, num_layers=num_layers,
                                   num_heads=num_heads, embedding_dim=128, hidden_dim=hidden_dim,
                                   intermediate_dim=4 * hidden_dim, num_groups=1,
                                   num_inner_repetitions=1, max_sequence_length=512))


def _encoder(class_name, num_layers, hidden_dim, num_heads, vocabulary_size,
             max_sequence_length=512):
    return (class_name, dict(vocabulary_size=vocabulary_size, num_layers=num_layers,
                             num_heads=num_heads, hidden_dim=hidden_dim,
                             intermediate_dim=4 * hidden_dim,
                             max_sequence_length=max_sequence_length))


def _deberta(num_layers, hidden_dim, num_heads, vocabulary_size=128100):
    return ("DebertaV3Backbone", dict(vocabulary_size=vocabulary_size, num_layers=num_layers,
                                      num_heads=num_heads, hidden_dim=hidden_dim,
                                      intermediate_dim=4 * hidden_dim, max_sequence_length=512,
                                      bucket_size=256))


def _f_net(num_layers, hidden_dim):
    return ("FNetBackbone", dict(vocabulary_size=32000, num_layers=num_layers,
                                 hidden_dim=hidden_dim, intermediate_dim=4 * hidden_dim,
                                 max_sequence_length=512, num_segments=4))


BUILTIN_PRESETS = {
    "bert_tiny_en_uncased": _bert(2, 128, 2),
    "bert_small_en_uncased": _bert(4, 512, 8),
    "bert_medium_en_uncased": _bert(8, 512, 8),
    "bert_base_en_uncased": _bert(12, 768, 12),
    "bert_base_en": _bert(12, 768, 12, vocabulary_size=28996),
    "bert_base_zh": _bert(12, 768, 12, vocabulary_size=21128),
    "bert_base_multi": _bert(12, 768, 12, vocabulary_size=119547),
    "bert_large_en_uncased": _bert(24, 1024, 16),
    "bert_large_en": _bert(24, 1024, 16, vocabulary_size=28996),
    "albert_base_en_uncased": _albert(12, 768, 12),
    "albert_large_en_uncased": _albert(24, 1024, 16),
    "albert_extra_large_en_uncased": _albert(24, 2048, 16),
    "albert_extra_extra_large_en_uncased": _albert(12, 4096, 64),
    "roberta_base_en": _encoder("RobertaBackbone", 12, 768, 12, 50265),
    "roberta_large_en": _encoder("RobertaBackbone", 24, 1024, 16, 50265),
    "xlm_roberta_base_multi": _encoder("XLMRobertaBackbone", 12, 768, 12, 250002),
    "xlm_roberta_large_multi": _encoder("XLMRobertaBackbone", 24, 1024, 16, 250002),
    "distil_bert_base_en_uncased": _encoder("DistilBertBackbone", 6, 768, 12, 30522),
    "distil_bert_base_en": _encoder("DistilBertBackbone", 6, 768, 12, 28996),
    "distil_bert_base_multi": _encoder("DistilBertBackbone", 6, 768, 12, 119547),
    "deberta_v3_extra_small_en": _deberta(12, 384, 6),
    "deberta_v3_small_en": _deberta(6, 768, 12),
    "deberta_v3_base_en": _deberta(12, 768, 12),
    "deberta_v3_large_en": _deberta(24, 1024, 16),
    "deberta_v3_base_multi": _deberta(12, 768, 12, vocabulary_size=251000),
    "f_net_base_en": _f_net(12, 768),
    "f_net_large_en": _f_net(24, 1024),
    # RoBERTa-large-sized pre-LayerNorm model trained with 40% masking (Wettig et al., 2022).
    "efficient_mlm_m0.40": _encoder("RobertaPreLNBackbone", 24, 1024, 16, 50265),
}


def backbone_class(name: str):
    """The registered Cloze class of built-in preset ``name``."""
    return keras.saving.get_registered_object(f"cloze>{BUILTIN_PRESETS[name][0]}")


def preset_names(base_cls) -> list:
    """Built-in names whose backbone is ``base_cls`` or a subclass (all for a task)."""
    from cloze.models.backbones.backbone import Backbone

    if not issubclass(base_cls, Backbone):
        return sorted(BUILTIN_PRESETS)
    return sorted(name for name in BUILTIN_PRESETS
                  if issubclass(backbone_class(name), base_cls))


def build_backbone(name: str, base_cls, **overrides):
    """A randomly initialised backbone with preset ``name``'s architecture."""
    from cloze.models.presets import PresetError

    class_name, config = BUILTIN_PRESETS[name]
    cls = backbone_class(name)
    if not issubclass(cls, base_cls):
        raise PresetError(f"built-in preset {name!r} is a {class_name}, not a "
                          f"{base_cls.__name__}.")
    return cls(**{**config, **overrides})
