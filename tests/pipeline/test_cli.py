"""The ``cloze`` command line: help, config building and error reporting."""
import subprocess
import sys

import pytest

from cloze.config import ConfigError
from cloze.pipeline.cli import build_config, main, make_parser


def test_help_lists_every_subcommand_with_one_line():
    result = subprocess.run([sys.executable, "-m", "cloze.pipeline.cli", "--help"],
                            check=True, capture_output=True, text=True)
    for command in ("run", "fill-mask", "default-corpus"):
        assert any(line.strip().startswith(command) for line in result.stdout.splitlines())


def test_set_overrides_and_shortcuts_build_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = make_parser().parse_args([
        "run", "--corpus", "a/", "--corpus", "gs://b/c.jsonl", "--vocab-file", "v.txt",
        "--push-base", "served", "--set", "train.train_steps=7",
        "--set", "corpus.on_invalid_utf8=skip"])
    config = build_config(args)
    assert config.corpus.paths == (f"{tmp_path}/a/", "gs://b/c.jsonl")
    assert config.vocab.vocab_file == f"{tmp_path}/v.txt"
    assert config.serving.push_base == f"{tmp_path}/served"
    assert config.train.train_steps == 7
    assert config.corpus.on_invalid_utf8 == "skip"


def test_relative_paths_in_a_config_file_are_taken_from_its_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.json").write_text('{"corpus": {"paths": ["texts"]}}')
    args = make_parser().parse_args(["run", "--config", "conf/config.json",
                                     "--vocab-file", "v.txt"])
    config = build_config(args)
    assert config.corpus.paths == (f"{tmp_path}/conf/texts",)
    assert config.vocab.vocab_file == f"{tmp_path}/v.txt"


def test_serving_flags_and_eval_overrides_build_the_config(tmp_path):
    config_file = tmp_path / "config.json"
    config_file.write_text('{"eval": {"max_perplexity": 500}, "serving": {"model_name": "a"}}')
    args = make_parser().parse_args([
        "run", "--config", str(config_file), "--model-name", "cloze-en",
        "--push-base", "/srv/models", "--set", "eval.min_accuracy=0.2"])
    config = build_config(args)
    assert config.serving.model_name == "cloze-en" and config.serving.push_base == "/srv/models"
    assert config.eval.max_perplexity == 500 and config.eval.min_accuracy == 0.2


@pytest.mark.parametrize("argv, message", [
    (["--set", "eval.min_accuracy=2"], "eval.min_accuracy=2 is invalid: expected null or a share"),
    (["--set", "eval.max_loss_increase=-1"], "eval.max_loss_increase=-1 is invalid"),
    (["--model-name", "my model"], "serving.model_name='my model' is invalid"),
])
def test_invalid_eval_or_serving_values_exit_2_naming_the_field(argv, message, capsys):
    assert main(["run", *argv]) == 2
    assert message in capsys.readouterr().err


def test_unknown_config_field_is_named():
    args = make_parser().parse_args(["run", "--set", "train.epochs=3"])
    with pytest.raises(ConfigError, match="train.epochs"):
        build_config(args)


def test_config_error_exits_2_with_a_one_line_message(capsys):
    assert main(["run", "--set", "data.max_seq_length=4"]) == 2
    err = capsys.readouterr().err
    assert "data.max_seq_length=4 is invalid" in err


def test_fill_mask_on_a_directory_that_is_no_model_says_so(tmp_path, capsys):
    assert main(["fill-mask", str(tmp_path), "a [MASK]"]) == 2
    assert "neither a SavedModel nor a Cloze preset" in capsys.readouterr().err

