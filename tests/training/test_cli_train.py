"""``cloze train`` and ``cloze convert`` from the command line."""
import os

from cloze.models import MaskedLM
from cloze.pipeline.cli import main

GOLDEN_BERT = os.path.join(os.path.dirname(__file__), "..", "models", "hf_goldens", "bert")


def test_cloze_train_writes_model_preset_and_report(shards, tmp_path, capsys):
    train, evaluation, vocab = shards
    code = main(["train", "--train", train, "--eval", evaluation, "--vocab", vocab,
                 "--output", str(tmp_path),
                 "--set", "data.max_seq_length=32", "--set", "data.max_predictions_per_seq=5",
                 "--set", "model.num_layers=1", "--set", "model.hidden_dim=16",
                 "--set", "model.intermediate_dim=32", "--set", "model.max_sequence_length=32",
                 "--set", "train.train_steps=4", "--set", "train.batch_size=8",
                 "--set", "train.steps_per_execution=2"])
    assert code == 0
    assert "Train loss:" in capsys.readouterr().out
    assert (tmp_path / "serving" / "saved_model.pb").exists()
    assert (tmp_path / "logs" / "training_report.png").exists()
    assert MaskedLM.from_preset(str(tmp_path / "preset")).backbone.num_layers == 1


def test_cloze_convert_both_ways(tmp_path):
    assert main(["convert", GOLDEN_BERT, str(tmp_path / "preset")]) == 0
    assert (tmp_path / "preset" / "task.json").exists()
    assert main(["convert", str(tmp_path / "preset"), str(tmp_path / "hf"), "--to", "hf"]) == 0
    assert (tmp_path / "hf" / "model.safetensors").exists()
