"""RoBERTa, XLM-RoBERTa and RoBERTa-PreLN backbones, their layers and their MaskedLM."""
import os

import keras
import numpy as np
import pytest
from keras import ops
from safetensors.numpy import load_file

from cloze.models.backbones.backbone import Backbone
from cloze.models.backbones.roberta_backbone import RobertaBackbone
from cloze.models.backbones.roberta_pre_ln_backbone import RobertaPreLNBackbone
from cloze.models.backbones.xlm_roberta_backbone import XLMRobertaBackbone
from cloze.models.convert import export_hf, load_hf
from cloze.models.layers.relative_position_attention import RelativePositionAttention
from cloze.models.layers.text_embeddings import TextEmbeddings, padding_offset_position_ids
from cloze.models.layers.transformer_encoder import TransformerEncoder
from cloze.models.tasks.masked_lm import MaskedLM
from tests.models.test_hf_conversion import TOLERANCE, backbone_inputs, every_position, golden

PAD = 1
SIZES = dict(vocabulary_size=40, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
             max_sequence_length=16, dropout=0.0)


def roberta_inputs(segments=False):
    """Two right-padded sequences: ``<s> ... </s>`` then pad id 1."""
    token_ids = np.array([[0, 5, 9, 7, 2, PAD, PAD], [0, 11, 12, 13, 14, 8, 2]], "int32")
    inputs = {"token_ids": token_ids, "padding_mask": (token_ids != PAD).astype("int32")}
    if segments:
        inputs["segment_ids"] = np.zeros_like(token_ids)
    return inputs


def sequence_output(backbone, inputs):
    return ops.convert_to_numpy(backbone(inputs)["sequence_output"])


def pre_ln(**overrides):
    keras.utils.set_random_seed(0)
    return RobertaPreLNBackbone(**{**SIZES, **overrides})


def test_position_ids_count_real_tokens_from_pad_plus_one():
    ids = padding_offset_position_ids(np.array([[0, 5, 2, PAD, PAD], [PAD, 0, 5, 6, 2]]), PAD)
    assert ops.convert_to_numpy(ids).tolist() == [[2, 3, 4, 1, 1], [1, 2, 3, 4, 5]]


@pytest.mark.parametrize("num_segments, segment_ids, message", [
    (0, np.zeros((1, 3), "int32"), "segment_ids given but num_segments=0"),
    (2, None, "segment_ids missing but num_segments=2"),
])
def test_text_embeddings_name_a_segment_input_that_does_not_fit(num_segments, segment_ids,
                                                                message):
    layer = TextEmbeddings(vocabulary_size=10, hidden_dim=4, max_sequence_length=8,
                           num_segments=num_segments)
    with pytest.raises(ValueError, match=message):
        layer(np.array([[2, 3, 4]]), segment_ids)


@pytest.mark.parametrize("cls", [RobertaBackbone, XLMRobertaBackbone])
def test_roberta_outputs_sequence_states_and_has_hf_sized_position_table(cls):
    backbone = cls(**SIZES)
    outputs = backbone(roberta_inputs())
    assert set(outputs) == {"sequence_output"}
    assert tuple(outputs["sequence_output"].shape) == (2, 7, 8)
    table = backbone.get_layer("embeddings").position_embedding.embeddings
    assert tuple(table.shape) == (16 + PAD + 1, 8)
    assert set(backbone.input) == {"token_ids", "padding_mask"}


def test_roberta_padding_changes_nothing_at_real_positions():
    backbone = RobertaBackbone(**SIZES)
    inputs = roberta_inputs()
    padded = {"token_ids": np.pad(inputs["token_ids"], ((0, 0), (0, 3)), constant_values=PAD),
              "padding_mask": np.pad(inputs["padding_mask"], ((0, 0), (0, 3)))}
    mask = inputs["padding_mask"][..., None].astype(bool)
    np.testing.assert_allclose(sequence_output(backbone, padded)[:, :7] * mask,
                               sequence_output(backbone, inputs) * mask, atol=1e-5)


@pytest.mark.parametrize("cls, overrides", [
    (RobertaBackbone, {}),
    (XLMRobertaBackbone, {"pad_token_id": 0}),
    (RobertaPreLNBackbone, {"position_embedding_type": "relative_key_query", "is_decoder": True,
                            "num_segments": 2, "layer_norm_epsilon": 1e-12,
                            "hidden_activation": "gelu_new", "initializer_range": 0.01}),
])
def test_config_round_trips(cls, overrides):
    backbone = cls(**{**SIZES, **overrides})
    rebuilt = cls.from_config(backbone.get_config())
    assert rebuilt.get_config() == backbone.get_config()
    assert rebuilt.count_params() == backbone.count_params()


@pytest.mark.parametrize("backbone_fn, segments", [
    (lambda: XLMRobertaBackbone(**SIZES), False),
    (lambda: pre_ln(position_embedding_type="relative_key"), True),
])
def test_masked_lm_preset_round_trip_gives_identical_outputs(backbone_fn, segments, tmp_path):
    backbone = backbone_fn()
    task = MaskedLM(backbone)
    inputs = {**roberta_inputs(segments), "mask_positions": np.array([[1, 2], [3, 5]], "int32")}
    task.save_to_preset(str(tmp_path))
    restored = MaskedLM.from_preset(str(tmp_path))
    np.testing.assert_array_equal(ops.convert_to_numpy(restored(inputs)),
                                  ops.convert_to_numpy(task(inputs)))
    assert type(Backbone.from_preset(str(tmp_path))) is type(backbone)


def test_masked_lm_head_is_robertas_and_tied():
    task = MaskedLM(RobertaBackbone(**SIZES))
    head = task.masked_lm_head
    assert head.token_embedding is task.backbone.token_embedding
    assert head.layer_norm_epsilon == 1e-5
    assert head.intermediate_activation is keras.activations.gelu


def test_pre_ln_ends_with_a_layer_norm():
    outputs = sequence_output(pre_ln(), roberta_inputs(segments=True))
    np.testing.assert_allclose(outputs.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(outputs.std(-1), 1.0, atol=1e-3)


@pytest.mark.parametrize("position_embedding_type",
                         ["absolute", "relative_key", "relative_key_query"])
def test_pre_ln_padding_changes_nothing_at_real_positions(position_embedding_type):
    backbone = pre_ln(position_embedding_type=position_embedding_type)
    inputs = roberta_inputs(segments=True)
    padded = {"token_ids": np.pad(inputs["token_ids"], ((0, 0), (0, 3)), constant_values=PAD),
              "segment_ids": np.pad(inputs["segment_ids"], ((0, 0), (0, 3))),
              "padding_mask": np.pad(inputs["padding_mask"], ((0, 0), (0, 3)))}
    mask = inputs["padding_mask"][..., None].astype(bool)
    np.testing.assert_allclose(sequence_output(backbone, padded)[:, :7] * mask,
                               sequence_output(backbone, inputs) * mask, atol=1e-5)


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_decoder_outputs_ignore_later_tokens(position_embedding_type):
    backbone = pre_ln(is_decoder=True, position_embedding_type=position_embedding_type)
    inputs = roberta_inputs(segments=True)
    before = sequence_output(backbone, inputs)
    for t in range(6):
        changed = {k: v.copy() for k, v in inputs.items()}
        changed["token_ids"][:, t + 1] = 30
        after = sequence_output(backbone, changed)
        np.testing.assert_allclose(after[1, :t + 1], before[1, :t + 1], atol=1e-5)
        assert not np.allclose(after[1, t + 1], before[1, t + 1])


def test_encoder_attends_both_ways():
    backbone = pre_ln()
    inputs = roberta_inputs(segments=True)
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][1, 5] = 30
    assert not np.allclose(sequence_output(backbone, changed)[1, 0],
                           sequence_output(backbone, inputs)[1, 0])


def test_relative_attention_replaces_absolute_positions():
    absolute = pre_ln()
    relative = pre_ln(position_embedding_type="relative_key")
    assert absolute.get_layer("embeddings").position_embedding is not None
    assert relative.get_layer("embeddings").position_embedding is None
    distance = relative.get_layer("transformer_layer_0")._self_attention_layer._distance_embedding
    assert tuple(distance.embeddings.shape) == (2 * (16 + PAD + 1) - 1, 4)
    assert relative.count_params() != absolute.count_params()


def attention_reference(layer, x, position_embedding_type):
    """Hugging Face's relative attention, written out in numpy from the layer's weights."""
    def project(dense):
        return np.einsum("btd,dnh->btnh", x, dense.kernel.numpy()) + dense.bias.numpy()

    q, k, v = project(layer._query_dense), project(layer._key_dense), project(layer._value_dense)
    length, max_positions = x.shape[1], layer.max_position_embeddings
    distance = np.arange(length)[:, None] - np.arange(length)[None, :]
    r = layer._distance_embedding.embeddings.numpy()[distance + max_positions - 1]
    scores = np.einsum("btnh,bsnh->bnts", q, k) + np.einsum("btnh,tsh->bnts", q, r)
    if position_embedding_type == "relative_key_query":
        scores += np.einsum("bsnh,tsh->bnts", k, r)
    scores /= np.sqrt(q.shape[-1])
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    context = np.einsum("bnts,bsnh->btnh", probabilities, v)
    output = layer._output_dense
    return np.einsum("btnh,nhd->btd", context, output.kernel.numpy()) + output.bias.numpy()


@pytest.mark.parametrize("position_embedding_type", ["relative_key", "relative_key_query"])
def test_relative_attention_computes_hugging_faces_scores(position_embedding_type):
    keras.utils.set_random_seed(0)
    layer = RelativePositionAttention(num_heads=2, key_dim=4, max_position_embeddings=6,
                                      position_embedding_type=position_embedding_type,
                                      kernel_initializer="random_normal")
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    layer(x, x)
    table = layer._distance_embedding.embeddings
    table.assign(np.random.default_rng(1).normal(size=table.shape).astype("float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x, x)),
                               attention_reference(layer, x, position_embedding_type),
                               atol=1e-4)


def test_relative_attention_with_zero_distances_is_plain_attention():
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    relative = RelativePositionAttention(num_heads=2, key_dim=4, max_position_embeddings=6,
                                         position_embedding_type="relative_key_query")
    plain = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    relative(x, x)
    plain(x, x)
    plain.set_weights([w.numpy() for w in relative.weights if "distance" not in w.path])
    table = relative._distance_embedding.embeddings
    table.assign(np.zeros(table.shape, "float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(relative(x, x)),
                               ops.convert_to_numpy(plain(x, x)), atol=1e-5)


def test_relative_attention_rejects_unknown_type():
    with pytest.raises(ValueError, match="position_embedding_type='absolute'"):
        RelativePositionAttention(num_heads=2, key_dim=4, max_position_embeddings=6,
                                  position_embedding_type="absolute")


def test_from_hf_config_maps_hugging_face_names():
    backbone = RobertaPreLNBackbone.from_hf_config({
        "model_type": "roberta-prelayernorm", "vocab_size": 40, "hidden_size": 8,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
        "hidden_act": "gelu_new", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 18,
        "type_vocab_size": 1, "initializer_range": 0.01, "layer_norm_eps": 1e-5,
        "pad_token_id": 1, "position_embedding_type": "relative_key_query",
        "is_decoder": True, "architectures": ["RobertaPreLayerNormForMaskedLM"]})
    config = backbone.get_config()
    assert {k: config[k] for k in ("vocabulary_size", "hidden_dim", "num_layers", "num_heads",
                                   "intermediate_dim", "hidden_activation", "dropout",
                                   "max_sequence_length", "num_segments", "initializer_range",
                                   "layer_norm_epsilon", "pad_token_id",
                                   "position_embedding_type", "is_decoder")} == {
        "vocabulary_size": 40, "hidden_dim": 8, "num_layers": 1, "num_heads": 2,
        "intermediate_dim": 16, "hidden_activation": "gelu_new", "dropout": 0.0,
        "max_sequence_length": 16, "num_segments": 1, "initializer_range": 0.01,
        "layer_norm_epsilon": 1e-5, "pad_token_id": 1,
        "position_embedding_type": "relative_key_query", "is_decoder": True}


@pytest.mark.parametrize("field, value, message", [
    ("position_embedding_type", "rotary", "position_embedding_type='rotary'"),
    ("hidden_act", "quick_gelu", "hidden_activation='quick_gelu'"),
    ("model_type", "roberta", "model_type='roberta'"),
    ("attention_probs_dropout_prob", 0.2, "attention_probs_dropout_prob=0.2"),
    ("add_cross_attention", True, "add_cross_attention=True"),
    ("max_position_embeddings", 2, "max_position_embeddings=2"),
])
def test_from_hf_config_names_what_it_cannot_express(field, value, message):
    tiny = {"vocab_size": 40, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16}
    with pytest.raises(ValueError, match=message):
        RobertaPreLNBackbone.from_hf_config({**tiny, field: value})


@pytest.mark.parametrize("name, cls", [
    ("roberta_base_en", RobertaBackbone),
    ("xlm_roberta_base_multi", XLMRobertaBackbone),
    ("efficient_mlm_m0.40", RobertaPreLNBackbone),
])
def test_builtin_preset_names_build_these_backbones(name, cls):
    assert name in cls.presets
    small = dict(num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, vocabulary_size=40)
    assert type(Backbone.from_preset(name, load_weights=False, **small)) is cls


# Made with transformers 4.x (tools/README.md): 5.x dropped relative positions from
# RoBERTa-PreLayerNorm. 16 tokens over an 18-position distance table.
RELATIVE_GOLDENS = ["roberta-prelayernorm-relative-key", "roberta-prelayernorm-relative-key-query"]


@pytest.fixture(scope="module", params=RELATIVE_GOLDENS)
def relative_golden(request):
    """A relative-position Hugging Face checkpoint through ``from_preset``, with its outputs."""
    checkpoint_dir, record = golden(request.param)
    return MaskedLM.from_preset(checkpoint_dir), checkpoint_dir, record


def test_relative_golden_logits_match_hugging_face(relative_golden):
    task, _, record = relative_golden
    logits = task(every_position(task.backbone, record), training=False)
    np.testing.assert_allclose(logits, record["logits"], atol=TOLERANCE, rtol=0)


def test_relative_golden_sequence_output_matches_hugging_face(relative_golden):
    task, _, record = relative_golden
    outputs = task.backbone(backbone_inputs(task.backbone, record), training=False)
    np.testing.assert_allclose(outputs["sequence_output"], record["sequence_output"],
                               atol=TOLERANCE, rtol=0)


def test_relative_export_writes_the_distance_tables_and_zero_absolute_positions(
        relative_golden, tmp_path):
    task, checkpoint_dir, _ = relative_golden
    export_hf(task, str(tmp_path))
    exported = load_file(str(tmp_path / "model.safetensors"))
    original = load_file(os.path.join(checkpoint_dir, "model.safetensors"))
    assert set(exported) == set(original)
    for i in range(task.backbone.num_layers):
        name = f"roberta_prelayernorm.encoder.layer.{i}.attention.self.distance_embedding.weight"
        np.testing.assert_array_equal(exported[name], original[name], err_msg=name)
    positions = "roberta_prelayernorm.embeddings.position_embeddings.weight"
    assert exported[positions].shape == original[positions].shape
    assert not exported[positions].any()


def test_relative_export_then_load_gives_identical_logits(relative_golden, tmp_path):
    task, _, record = relative_golden
    export_hf(task, str(tmp_path))
    loaded = load_hf(str(tmp_path))
    loaded_config, config = loaded.backbone.get_config(), task.backbone.get_config()
    assert {**loaded_config, "name": None} == {**config, "name": None}
    inputs = every_position(task.backbone, record)
    np.testing.assert_array_equal(loaded(inputs), task(inputs))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_block_at_query_positions_gives_those_rows_of_the_whole_output(normalize_first):
    block = TransformerEncoder(intermediate_dim=16, num_heads=2, normalize_first=normalize_first)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 8)).astype("float32")
    padding_mask = np.array([[1] * 7, [1] * 4 + [0] * 3], "int32")
    positions = np.array([[6, 0, 3], [1, 1, 5]], "int32")
    whole = block(x, padding_mask=padding_mask).numpy()
    rows = block(x, padding_mask=padding_mask, query_positions=positions).numpy()
    np.testing.assert_allclose(rows, np.take_along_axis(whole, positions[..., None], axis=1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(causal=True), dict(relative_attention="relative_key",
                                                             max_position_embeddings=16)])
def test_encoder_block_refuses_query_positions_it_cannot_compute_alone(kwargs):
    block = TransformerEncoder(intermediate_dim=16, num_heads=2, name="block_3", **kwargs)
    x = np.zeros((1, 4, 8), "float32")
    with pytest.raises(ValueError, match="block_3: query_positions needs plain"):
        block(x, query_positions=np.array([[1]], "int32"))
