"""Training and export on shards the data stage made with byte-level BPE (RoBERTa's tokenizer)."""
import json
import subprocess
import sys

import apache_beam as beam
import pytest

from cloze.config import ConfigError, CorpusConfig, PipelineConfig
from cloze.data.default_corpus import write_default_corpus
from cloze.data.jobs import ingest_corpus, learn_vocabulary, make_masked_lm_examples
from cloze.data.tokenizers import load_tokenizer
from cloze.models import MaskedLM
from cloze.models.tasks.fill_mask import display_tokens
from cloze.training.trainer import TrainingOutputs, train

SEQ = 32
# Only TensorFlow and tensorflow-text, as TF Serving has them.
FILL_MASK = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
fill = tf.saved_model.load(sys.argv[1]).signatures["fill_mask"]
out = fill(texts=tf.constant(["Return the [MASK] of the list."]))
print(json.dumps({"tokens": [t.decode("utf-8") for t in out["tokens"].numpy()[0, 0]],
                  "ids": out["ids"].numpy()[0, 0].tolist(),
                  "masks": int(out["mask_weights"].numpy()[0].sum()),
                  "cloze_loaded": any(m.startswith("cloze") for m in sys.modules)}))
"""


def test_a_roberta_trained_on_byte_bpe_shards_fills_masks_with_words_in_a_fresh_process(
        tmp_path):
    config = PipelineConfig.from_dict({
        "vocab": {"vocab_size": 400, "tokenizer": "byte_bpe"},
        "data": {"max_seq_length": SEQ, "max_predictions_per_seq": 5},
        "model": {"backbone": "RobertaBackbone", "num_layers": 1, "num_heads": 2,
                  "hidden_dim": 16, "intermediate_dim": 32, "max_sequence_length": SEQ},
        "train": {"batch_size": 8, "train_steps": 2, "steps_per_execution": 2,
                  "jit_compile": False},
    })
    corpus = write_default_corpus(str(tmp_path / "corpus"), 8_000)
    ingest_corpus(beam.Pipeline(), CorpusConfig(paths=(corpus,)), 10, str(tmp_path / "docs"))
    vocab = str(tmp_path / "vocab" / "vocab.json")
    learn_vocabulary(beam.Pipeline(), str(tmp_path / "docs" / "Split-train" / "*"), config.vocab,
                     vocab)
    make_masked_lm_examples(beam.Pipeline(), str(tmp_path / "docs"), vocab, config.vocab,
                            config.data, str(tmp_path / "examples"))
    outputs = TrainingOutputs(serving_dir=str(tmp_path / "serving"),
                              preset_dir=str(tmp_path / "preset"), log_dir=str(tmp_path / "logs"))

    # No eval split: what is tested here is the tokenizer, in training and in the export.
    train(config, str(tmp_path / "examples" / "Split-train" / "*"), "", vocab, outputs)

    task = MaskedLM.from_preset(outputs.preset_dir)
    tokenizer = load_tokenizer(config.vocab, vocab)
    assert task.backbone.get_config()["pad_token_id"] == tokenizer.pad_token_id == 1
    assert task.preprocessor.tokenizer.vocabulary == tokenizer.vocabulary
    run = subprocess.run([sys.executable, "-c", FILL_MASK, outputs.serving_dir],
                         capture_output=True, text=True, timeout=300, check=True)
    fills = json.loads(run.stdout.strip().splitlines()[-1])
    assert fills["masks"] == 1 and not fills["cloze_loaded"]
    assert fills["tokens"] == [display_tokens(tokenizer)[i] for i in fills["ids"]]
    assert not any(token.startswith("Ġ") and token.strip("Ġ") for token in fills["tokens"])


def test_a_backbone_padding_with_another_id_than_the_tokenizer_is_refused(
        shards, training_config, tmp_path):
    train_pattern, eval_pattern, vocab = shards
    config = training_config()
    config = PipelineConfig.from_dict({**config.to_dict(), "model": {
        **config.to_dict()["model"], "backbone": "RobertaBackbone",
        "options": {"pad_token_id": 1}}})

    with pytest.raises(ConfigError, match=r"pad_token_id=1 but the vocab.tokenizer='wordpiece' "
                                          r"tokenizer at .* pads with 0"):
        train(config, train_pattern, eval_pattern, vocab,
              TrainingOutputs(str(tmp_path / "s"), str(tmp_path / "p"), str(tmp_path / "l")))
