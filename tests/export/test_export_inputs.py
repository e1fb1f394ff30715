"""Backbones without segments get only the inputs they take, in every exported signature."""
import warnings

import tensorflow as tf

from cloze.export.saved_model import FILL_MASK_SIGNATURE, SCORE_SIGNATURE, export_saved_model
from tests.conftest import TINY_VOCAB


def test_roberta_export_and_fill_mask_pass_no_unused_inputs(tmp_path):
    from cloze.models import MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer
    from cloze.models.backbones.roberta_backbone import RobertaBackbone

    task = MaskedLM(RobertaBackbone(len(TINY_VOCAB), 1, 1, 8, 16, max_sequence_length=16),
                    MaskedLMPreprocessor(WordPieceTokenizer(TINY_VOCAB), sequence_length=16))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = tf.saved_model.load(export_saved_model(task, str(tmp_path / "model")))
        fills = loaded.signatures[FILL_MASK_SIGNATURE](texts=tf.constant(["the [MASK] sat"]))
        scores = loaded.signatures[SCORE_SIGNATURE](texts=tf.constant(["the cat sat"]))

    assert not [w for w in caught if "structure of `inputs`" in str(w.message)]
    assert fills["ids"].shape[0] == 1 and scores["num_tokens"].numpy().tolist() == [3]
