"""Offline scoring: the pseudo-log-likelihood signature, and the Beam job against Keras."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from cloze.config import CorpusConfig
from cloze.evaluation.scoring import score_corpus
from cloze.export.saved_model import SCORE_SIGNATURE, export_saved_model
from tests.conftest import TINY_VOCAB

SEQ = 12
DOCUMENTS = ["the cat sat on the mat.", "a dog ran", "the cats sat on a dog on a mat . " * 3]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import keras
    from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer

    keras.utils.set_random_seed(1)
    task = MaskedLM(BertBackbone(len(TINY_VOCAB), 1, 2, 16, 32, max_sequence_length=SEQ,
                                 dropout=0.0),
                    MaskedLMPreprocessor(WordPieceTokenizer(TINY_VOCAB), sequence_length=SEQ))
    return task, export_saved_model(task, str(tmp_path_factory.mktemp("score") / "model"))


def keras_scores(task, text):
    """The definition, one masked copy at a time: mask token i, score the original there."""
    packed = task.preprocessor.pack(task.preprocessor.tokenizer.tokenize(tf.constant([text])))
    ids = packed["token_ids"].numpy()[0]
    length = int(packed["padding_mask"].numpy().sum())
    log_likelihood, correct = 0.0, 0
    for position in range(1, length - 1):
        masked = ids.copy()
        masked[position] = TINY_VOCAB.index("[MASK]")
        logits = task({"token_ids": masked[None], "segment_ids": np.zeros((1, SEQ), "int32"),
                       "padding_mask": packed["padding_mask"].numpy(),
                       "mask_positions": np.array([[position]])}).numpy()[0, 0]
        log_probs = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        log_likelihood += log_probs[ids[position]]
        correct += int(logits.argmax() == ids[position])
    tokens = length - 2
    return {"num_tokens": tokens, "pseudo_log_likelihood": log_likelihood,
            "pseudo_perplexity": math.exp(-log_likelihood / tokens),
            "masked_accuracy": correct / tokens}


def test_long_documents_are_scored_on_their_first_sequence(model):
    _, path = model
    out = tf.saved_model.load(path).signatures[SCORE_SIGNATURE](texts=tf.constant(DOCUMENTS))
    assert out["num_tokens"].numpy().tolist()[2] == SEQ - 2
    assert out["token_log_probs"].shape == (3, SEQ - 2)


def test_beam_scores_equal_the_keras_model_in_process(model, tmp_path):
    task, path = model
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "docs.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCUMENTS))
    paths = score_corpus(path, CorpusConfig(paths=(str(corpus),)), str(tmp_path / "out"),
                         prompts=["the [MASK] sat on the [MASK]"], top_k=3,
                         output_format="parquet")
    rows = pd.read_parquet(paths["documents"]).to_dict("records")
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(DOCUMENTS)
    for i, text in enumerate(DOCUMENTS):
        row, expected = by_id[f"docs.jsonl:{i + 1}"], keras_scores(task, text)
        assert row["num_tokens"] == expected["num_tokens"]
        for name in ("pseudo_log_likelihood", "pseudo_perplexity", "masked_accuracy"):
            assert row[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-4), name
    prompt = json.loads(open(paths["prompts"]).read())
    expected_fills = task.fill_mask(["the [MASK] sat on the [MASK]"], top_k=3)[0]
    assert [[f["token"] for f in mask] for mask in prompt["fills"]] == [
        [token for token, _ in mask] for mask in expected_fills]


def test_cli_score_builds_the_corpus_and_options(monkeypatch, tmp_path):
    from cloze.evaluation import scoring
    from cloze.pipeline.cli import main

    calls = []
    monkeypatch.setattr(scoring, "score_corpus", lambda *args, **kwargs: calls.append(
        (args, kwargs)) or {"documents": "d.jsonl"})
    assert main(["score", "model/", "--corpus", "a/", "--corpus", "b.jsonl", "--output", "out",
                 "--prompt", "the [MASK]", "--top-k", "3", "--text-field", "body"]) == 0
    (model_dir, corpus, output), kwargs = calls[0]
    assert (model_dir, corpus.paths, corpus.text_field, output) == (
        "model/", ("a/", "b.jsonl"), "body", "out")
    assert kwargs == {"prompts": ["the [MASK]"], "top_k": 3, "output_format": "jsonl",
                      "beam_pipeline_args": []}


def test_top_k_beyond_the_exported_candidates_is_refused_naming_it(model, tmp_path):
    from cloze.evaluation.scoring import ScoreCorpus

    with pytest.raises(ValueError, match="top_k=11 is invalid"):
        ScoreCorpus(model[1], CorpusConfig(paths=("x",)), str(tmp_path), top_k=11)
