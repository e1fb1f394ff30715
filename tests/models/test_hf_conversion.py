"""Hugging Face checkpoints load into Cloze with the logits Hugging Face computes, and back.

The goldens under ``hf_goldens/`` come from ``tools/make_hf_goldens.py`` (run in
the separate ``.venv-hf`` reference environment): tiny random checkpoints and
the outputs PyTorch computed for them.
"""
import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor
from cloze.models.convert import CONVERTERS, ConversionError, convert, export_hf, load_hf

GOLDENS = os.path.join(os.path.dirname(__file__), "hf_goldens")
# Float32 agreement is ~1e-6; tanh-approximate GELU alone would be off by ~1.5e-4.
TOLERANCE = 1e-5


def golden(model_type):
    """The golden checkpoint directory and its recorded inputs and outputs."""
    record = dict(np.load(os.path.join(GOLDENS, f"{model_type}.npz")))
    return os.path.join(GOLDENS, model_type), record


def backbone_inputs(backbone, record):
    """The golden inputs the backbone takes (RoBERTa and DistilBERT have no segments)."""
    return {name: record[name] for name in backbone.input}


def every_position(backbone, record):
    """The backbone's golden inputs plus ``mask_positions`` covering every position."""
    batch, length = record["token_ids"].shape
    return {**backbone_inputs(backbone, record),
            "mask_positions": np.tile(np.arange(length, dtype="int32"), (batch, 1))}


@pytest.fixture(scope="module", params=sorted(CONVERTERS))
def converted(request):
    """Each supported golden checkpoint, loaded, with its recorded Hugging Face outputs."""
    checkpoint_dir, record = golden(request.param)
    return load_hf(checkpoint_dir), record


def test_logits_match_hugging_face(converted):
    task, record = converted
    logits = task(every_position(task.backbone, record), training=False)
    np.testing.assert_allclose(logits, record["logits"], atol=TOLERANCE, rtol=0)


def test_sequence_output_matches_hugging_face(converted):
    task, record = converted
    outputs = task.backbone(backbone_inputs(task.backbone, record), training=False)
    np.testing.assert_allclose(outputs["sequence_output"], record["sequence_output"],
                               atol=TOLERANCE, rtol=0)


def test_bert_tokenizer_matches_hugging_face():
    checkpoint_dir, record = golden("bert")
    task = load_hf(checkpoint_dir)
    preprocessor = MaskedLMPreprocessor(task.preprocessor.tokenizer,
                                        sequence_length=record["text_token_ids"].shape[1])
    packed = preprocessor.pack(preprocessor.tokenizer.tokenize(record["texts"].tolist()))
    np.testing.assert_array_equal(packed["token_ids"], record["text_token_ids"])


def test_pickled_only_checkpoint_is_refused(tmp_path):
    shutil.copy(os.path.join(GOLDENS, "bert", "config.json"), tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ConversionError, match=r"pytorch_model\.bin.*safe_serialization=True"):
        load_hf(str(tmp_path))


def test_unsupported_model_type_names_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ConversionError, match=r"model_type='gpt2'.*supported: \[.*'bert'"):
        load_hf(str(tmp_path))


def test_config_value_cloze_cannot_hold_is_named(tmp_path):
    shutil.copytree(os.path.join(GOLDENS, "bert"), tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    with pytest.raises(ConversionError, match=r"config\.json: hidden_act='relu'.*\['gelu'\]"):
        load_hf(str(tmp_path))


def rewritten_bert_golden(directory, rewrite):
    """A copy of the BERT golden in ``directory`` whose tensors went through ``rewrite``.

    ``rewrite`` maps the tensor dict to ``{file name: tensor dict}``.
    """
    shutil.copytree(os.path.join(GOLDENS, "bert"), directory, dirs_exist_ok=True)
    weights_file = os.path.join(directory, "model.safetensors")
    tensors = load_file(weights_file)
    os.remove(weights_file)
    for name, shard in rewrite(tensors).items():
        save_file(shard, os.path.join(directory, name))
    return str(directory)


def assert_matches_bert_golden(checkpoint_dir):
    task = load_hf(checkpoint_dir)
    _, record = golden("bert")
    logits = task(every_position(task.backbone, record), training=False)
    np.testing.assert_allclose(logits, record["logits"], atol=TOLERANCE, rtol=0)


def test_untied_decoder_is_refused(tmp_path):
    def untie(tensors):
        embeddings = tensors["bert.embeddings.word_embeddings.weight"]
        return {"model.safetensors": {**tensors, "cls.predictions.decoder.weight": embeddings + 1}}

    with pytest.raises(ConversionError, match="cls.predictions.decoder.weight differs"):
        load_hf(rewritten_bert_golden(tmp_path, untie))


def test_tensorflow_era_gamma_and_beta_names_load(tmp_path):
    def tensorflow_name(name):
        if "LayerNorm" not in name:
            return name
        return name.replace(".weight", ".gamma").replace(".bias", ".beta")

    def rename(tensors):
        return {"model.safetensors": {tensorflow_name(name): array
                                      for name, array in tensors.items()}}

    assert_matches_bert_golden(rewritten_bert_golden(tmp_path, rename))


def test_sharded_checkpoint_loads(tmp_path):
    def shard(tensors):
        names = sorted(tensors)
        shards = {"model-00001-of-00002.safetensors": names[::2],
                  "model-00002-of-00002.safetensors": names[1::2]}
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {name: file for file, part in shards.items() for name in part}}))
        return {file: {name: tensors[name] for name in part} for file, part in shards.items()}

    assert_matches_bert_golden(rewritten_bert_golden(tmp_path, shard))


def test_export_then_load_gives_identical_outputs(converted, tmp_path):
    task, record = converted
    export_hf(task, str(tmp_path))
    loaded = load_hf(str(tmp_path))
    inputs = every_position(task.backbone, record)
    np.testing.assert_array_equal(loaded(inputs), task(inputs))
    inputs.pop("mask_positions")
    for name, output in task.backbone(inputs).items():
        np.testing.assert_array_equal(loaded.backbone(inputs)[name], output, err_msg=name)
    if task.preprocessor is not None:
        assert loaded.preprocessor.tokenizer.vocabulary == task.preprocessor.tokenizer.vocabulary


def test_convert_to_a_preset_and_back_keeps_the_logits(tmp_path):
    convert(os.path.join(GOLDENS, "bert"), str(tmp_path / "preset"))
    convert(str(tmp_path / "preset"), str(tmp_path / "hf"), to="hf")
    assert_matches_bert_golden(str(tmp_path / "hf"))


def test_export_refuses_approximate_gelu(tmp_path):
    backbone = BertBackbone(10, num_layers=1, num_heads=1, hidden_dim=4, intermediate_dim=8,
                            masked_lm_layer_norm_epsilon=1e-12)
    with pytest.raises(ConversionError, match="activation is .*gelu_approximate"):
        export_hf(MaskedLM(backbone), str(tmp_path))


def test_from_preset_converts_a_hugging_face_checkpoint_directory_and_cache_handle(
        tmp_path, monkeypatch):
    from cloze.models import Backbone, MaskedLM

    golden = os.path.join(os.path.dirname(__file__), "hf_goldens", "bert")
    task = MaskedLM.from_preset(golden)
    assert task.preprocessor is not None
    assert type(Backbone.from_preset(golden)).__name__ == "BertBackbone"
    snapshot = tmp_path / "models--org--tiny-bert" / "snapshots" / "rev1"
    shutil.copytree(golden, snapshot)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    cached = MaskedLM.from_preset("hf://org/tiny-bert")
    assert cached.count_params() == task.count_params()
