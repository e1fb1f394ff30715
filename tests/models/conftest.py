"""Fixtures shared by the model tests."""
import pytest
import tensorflow as tf


@pytest.fixture
def saved_model_tokenize(tmp_path):
    """Saves ``tokenizer.tokenize`` (padded with -1) as a SavedModel and returns the loaded one."""
    def save_and_load(tokenizer):
        module = tf.Module()
        module.tokenizer = tokenizer
        module.tokenize = tf.function(lambda texts: tokenizer.tokenize(texts).to_tensor(-1),
                                      input_signature=[tf.TensorSpec([None], tf.string)])
        tf.saved_model.save(module, str(tmp_path / "saved_model"))
        return tf.saved_model.load(str(tmp_path / "saved_model")).tokenize
    return save_and_load
