"""Cloze's faster layers give the numbers and gradients of the Keras layers they stand in for."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from cloze.models.layers.affine import add_bias, scale_and_shift
from cloze.models.layers.layer_normalization import LayerNormalization
from cloze.models.layers.multi_head_attention import MultiHeadAttention
from cloze.models.tasks.token_accuracy import TokenAccuracy

RNG = np.random.default_rng(0)


def values_and_gradients(function, *arrays):
    tensors = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = function(*tensors)
        # A loss that weighs every output differently, so each gradient entry counts.
        loss = tf.reduce_sum(y * tf.constant(
            np.random.default_rng(1).normal(size=y.shape).astype("float32")))
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, tensors)]


def assert_same(ours, theirs, rtol=1e-5, atol=1e-5):
    (y, grads), (y_ref, grads_ref) = ours, theirs
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("bias_shape", [(6,), (2, 3)])
def test_add_bias_matches_plain_addition(bias_shape):
    x = RNG.normal(size=(4, 5) + bias_shape).astype("float32")
    bias = RNG.normal(size=bias_shape).astype("float32")
    assert_same(values_and_gradients(add_bias, x, bias),
                values_and_gradients(lambda a, b: a + b, x, bias))


def test_scale_and_shift_matches_plain_arithmetic():
    x = RNG.normal(size=(3, 7, 6)).astype("float32")
    scale, shift = RNG.normal(size=(2, 6)).astype("float32")
    assert_same(values_and_gradients(scale_and_shift, x, scale, shift),
                values_and_gradients(lambda a, s, b: a * s + b, x, scale, shift))


def layer_values_and_gradients(layer, *inputs, **kwargs):
    tensors = [tf.constant(a) for a in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = layer(*tensors, **kwargs)
        loss = tf.reduce_sum(tf.cast(y, "float32") * tf.constant(
            np.random.default_rng(1).normal(size=y.shape).astype("float32")))
    grads = tape.gradient(loss, tensors + list(layer.trainable_variables))
    return tf.cast(y, "float32").numpy(), [tf.cast(g, "float32").numpy() for g in grads]


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_layer_normalization_matches_keras(dtype):
    x = RNG.normal(loc=3.0, size=(2, 5, 8)).astype("float32")
    ours = LayerNormalization(epsilon=1e-12, dtype=dtype)
    keras_norm = keras.layers.LayerNormalization(epsilon=1e-12, dtype=dtype)
    ours.build(x.shape)
    keras_norm.build(x.shape)
    weights = [RNG.normal(size=8).astype("float32") for _ in range(2)]
    ours.set_weights(weights)
    keras_norm.set_weights(weights)
    tolerance = 1e-5 if dtype == "float32" else 2e-2
    assert_same(layer_values_and_gradients(ours, x), layer_values_and_gradients(keras_norm, x),
                rtol=tolerance, atol=tolerance)
    assert [v.path for v in ours.weights] == [v.path.replace(keras_norm.name, ours.name)
                                              for v in keras_norm.weights]


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_keras_with_the_same_weights(causal):
    query = RNG.normal(size=(2, 4, 8)).astype("float32")
    value = RNG.normal(size=(2, 6, 8)).astype("float32") if not causal else query
    mask = np.ones((2, query.shape[1], value.shape[1]), bool)
    mask[1, :, -2:] = False
    ours = MultiHeadAttention(num_heads=2, key_dim=4, name="attention")
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")
    for layer in (ours, theirs):
        layer.build(query.shape, value.shape)
    theirs.set_weights([RNG.normal(size=w.shape).astype("float32") for w in theirs.weights])
    ours.set_weights(theirs.get_weights())
    assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
    kwargs = dict(attention_mask=mask, use_causal_mask=causal)
    assert_same(layer_values_and_gradients(ours, query, value, **kwargs),
                layer_values_and_gradients(theirs, query, value, **kwargs))
    # Keras' own call answers what the 2-D path does not cover.
    _, scores = ours(query, value, return_attention_scores=True)
    assert tuple(scores.shape) == (2, 2, 4, value.shape[1])


def test_token_accuracy_matches_keras_sparse_categorical_accuracy():
    logits = RNG.normal(size=(4, 3, 50)).astype("float32")
    labels = RNG.integers(0, 50, (4, 3))
    labels[:2] = logits[:2].argmax(-1)  # some hits
    weights = (RNG.random((4, 3)) > 0.3).astype("float32")
    ours, theirs = TokenAccuracy(), keras.metrics.SparseCategoricalAccuracy()
    for metric in (ours, theirs):
        metric.update_state(labels, logits, sample_weight=weights)
    assert 0 < float(ours.result()) < 1
    assert float(ours.result()) == pytest.approx(float(theirs.result()))
    assert TokenAccuracy.from_config(ours.get_config()).name == "accuracy"


def test_attention_zeroes_rows_whose_keys_are_all_masked_as_keras_does():
    x = RNG.normal(size=(1, 3, 8)).astype("float32")
    mask = np.ones((1, 3, 3), bool)
    mask[0, 1] = False  # the second query sees no key
    ours = MultiHeadAttention(num_heads=2, key_dim=4)
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    for layer in (ours, theirs):
        layer.build(x.shape, x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x, x, attention_mask=mask).numpy(),
                               theirs(x, x, attention_mask=mask).numpy(), rtol=1e-5, atol=1e-6)
