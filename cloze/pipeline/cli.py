"""The ``cloze`` command line."""
import argparse
import json
import logging
import os
import sys
import warnings
from typing import List, Optional

from cloze.config import ConfigError, PipelineConfig

FILL_MASK_EXAMPLE = "Return the [MASK] of the list."
# The image ``cloze compile`` names when --image is not given (build it from the Dockerfile).
DEFAULT_IMAGE = "cloze:0.1.0"


def parse_override(text: str):
    """``section.field=value`` -> ``(section, field, value)``, value parsed as JSON if it can be."""
    key, sep, raw = text.partition("=")
    section, dot, field = key.partition(".")
    if not sep or not dot or not field:
        raise ConfigError(f"--set {text!r}: expected SECTION.FIELD=VALUE, e.g. train.train_steps=100")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return section, field, value


def build_config(args) -> PipelineConfig:
    """The config file (if any), then ``--set`` overrides, then the shortcut flags.

    Relative paths are taken from the config file's directory when the file
    gives them (as the Airflow DAG takes them), else from the working directory.
    """
    values = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            values = PipelineConfig.from_json(f.read()).with_absolute_paths(
                os.path.dirname(os.path.abspath(args.config))).to_dict()
    for override in args.set:
        section, field, value = parse_override(override)
        values.setdefault(section, {})[field] = value
    if getattr(args, "corpus", None):
        values.setdefault("corpus", {})["paths"] = args.corpus
    if getattr(args, "vocab_file", None):
        values.setdefault("vocab", {})["vocab_file"] = args.vocab_file
    if getattr(args, "model_name", None):
        values.setdefault("serving", {})["model_name"] = args.model_name
    if getattr(args, "push_base", None):
        values.setdefault("serving", {})["push_base"] = args.push_base
    return PipelineConfig.from_dict(values).with_absolute_paths(os.getcwd())


def print_fills(masker, texts: List[str], top_k: int) -> None:
    for text, masks in zip(texts, masker(texts, top_k=top_k)):
        print(text)
        if not masks:
            print("  (no [MASK] in this text)")
        for i, fills in enumerate(masks, 1):
            print(f"  [MASK] #{i}: " + "  ".join(f"{token} {score:.3f}" for token, score in fills))


def cmd_run(args) -> int:
    from cloze.export.fill_mask import FillMasker
    from cloze.pipeline.runner import run_local

    config = build_config(args)
    print(f"cloze: running pipeline {config.name!r} into {args.output}", flush=True)
    summary = run_local(config, args.output, beam_pipeline_args=args.beam_arg)
    print("\n" + summary.describe())
    print("\nFill-mask (SavedModel):")
    print_fills(FillMasker(summary.serving_dir), [FILL_MASK_EXAMPLE], top_k=5)
    return 0


def cmd_compile(args) -> int:
    from cloze.pipeline.kubeflow import compile_kubeflow

    path = compile_kubeflow(build_config(args), args.pipeline_root, args.output, image=args.image,
                            beam_pipeline_args=args.beam_arg,
                            fingerprint_corpus=args.corpus_fingerprint)
    print(f"cloze: wrote the {args.target} pipeline spec to {path}")
    return 0


def cmd_train(args) -> int:
    from cloze.training.callbacks import PREEMPTED_EXIT_CODE, TrainingPreempted
    from cloze.training.trainer import TrainingOutputs, train

    config = build_config(args)
    out = os.path.abspath(args.output)
    try:
        result = train(config, args.train, args.eval, args.vocab,
                       TrainingOutputs(serving_dir=os.path.join(out, "serving"),
                                       preset_dir=os.path.join(out, "preset"),
                                       log_dir=os.path.join(out, "logs")))
    except TrainingPreempted as preempted:  # checkpointed: the same command resumes
        print(f"cloze train: {preempted}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    print(f"\nSavedModel:  {out}/serving\nPreset:      {out}/preset\nReport:      "
          f"{out}/logs/training_report.png")
    print(f"Train loss:  {result.history['loss'][0]:.3f} -> {result.train_loss:.3f}")
    if result.eval_loss is not None:
        print(f"Eval loss:   {result.eval_loss:.3f} (masked-token accuracy "
              f"{result.eval_accuracy:.3f})")
    return 0


def preset_task(preset: str):
    """The task a preset holds: whichever ``Task`` its ``task.json`` names (``MaskedLM``,
    ``CausalLM``), or a ``MaskedLM`` over a backbone-only preset."""
    from cloze.models import MaskedLM, presets
    from cloze.models.tasks.task import Task

    has_task = os.path.isfile(os.path.join(preset, presets.TASK_CONFIG_FILE))
    return (Task if has_task else MaskedLM).from_preset(preset)


def cmd_convert(args) -> int:
    from cloze.models.convert import convert, export_hf

    if args.to == "hf":
        export_hf(preset_task(args.src), args.dst)
    else:
        convert(args.src, args.dst)
    print(f"{args.src} -> {args.dst} ({args.to})")
    return 0


def cmd_fill_mask(args) -> int:
    from cloze.export.fill_mask import FillMasker

    print_fills(FillMasker(args.model), args.text, args.top_k)
    return 0


def cmd_score(args) -> int:
    from cloze.config import CorpusConfig
    from cloze.evaluation.scoring import score_corpus

    corpus = CorpusConfig(paths=tuple(args.corpus), text_field=args.text_field)
    paths = score_corpus(args.model, corpus, args.output, prompts=args.prompt, top_k=args.top_k,
                         output_format=args.format, beam_pipeline_args=args.beam_arg)
    for name, path in sorted(paths.items()):
        print(f"{name}: {path}")
    return 0


def cmd_default_corpus(args) -> int:
    from cloze.data.default_corpus import write_default_corpus

    print(write_default_corpus(args.output, args.max_bytes))
    return 0


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``build_config`` reads, shared by the commands that build a pipeline."""
    parser.add_argument("--corpus", action="append", default=[],
                        help="corpus file, directory or glob (repeatable); default: the built-in "
                             "corpus of Python standard-library docstrings and comments")
    parser.add_argument("--vocab-file", help="use this tokenizer instead of learning one: a "
                             "vocab.txt, spiece.model or vocab.json (merges.txt beside it), as "
                             "vocab.tokenizer says")
    parser.add_argument("--config", help="JSON file with PipelineConfig fields")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one config field, e.g. train.train_steps=200 or "
                             "eval.min_accuracy=0.2 (repeatable)")
    parser.add_argument("--model-name", help="TF Serving model name blessed models are pushed "
                                             "under (serving.model_name, default: cloze)")
    parser.add_argument("--push-base", help="directory blessed models are pushed to "
                                            "(serving.push_base, default: <output>/serving, "
                                            "or <pipeline root>/serving when compiled)")
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="Beam pipeline option, e.g. --beam-arg=--direct_num_workers=2")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloze", description="Pretrain BERT-family masked language models and ship them.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline: text to TFRecords to served model")
    run.add_argument("--output", default="cloze_output",
                     help="output directory (default: %(default)s)")
    add_config_arguments(run)
    run.set_defaults(func=cmd_run)

    compile_ = sub.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines v2 (JSON)")
    compile_.add_argument("--target", choices=["kubeflow"], default="kubeflow")
    compile_.add_argument("--output", default="cloze_pipeline.json",
                          help="the spec file to write (default: %(default)s)")
    compile_.add_argument("--image", default=DEFAULT_IMAGE,
                          help="the pipeline image every step runs (default: %(default)s)")
    compile_.add_argument("--pipeline-root", required=True,
                          help="where the cluster writes artifacts, e.g. gs://bucket/cloze")
    compile_.add_argument("--no-corpus-fingerprint", dest="corpus_fingerprint",
                          action="store_false",
                          help="do not list the corpus now (for paths this machine cannot read); "
                               "the compiled pipeline then reuses cached documents even when "
                               "the corpus changed")
    add_config_arguments(compile_)
    compile_.set_defaults(func=cmd_compile)

    train = sub.add_parser("train", help="train on TFRecord shards (resumable) to model + preset")
    train.add_argument("--train", required=True, help="glob of training shards")
    train.add_argument("--eval", default="", help="glob of eval shards (optional)")
    train.add_argument("--vocab", required=True,
                       help="the tokenizer the shards were made with: vocab.txt, spiece.model "
                            "or vocab.json (merges.txt beside it), or their directory")
    train.add_argument("--output", default="cloze_train", help="output directory; rerun with "
                                                                "the same one to resume")
    train.add_argument("--config", help="JSON file with PipelineConfig fields")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override one config field, e.g. train.optimizer=lamb (repeatable)")
    train.set_defaults(func=cmd_train)

    convert = sub.add_parser("convert", help="convert Hugging Face checkpoints to presets and back")
    convert.add_argument("src")
    convert.add_argument("dst")
    convert.add_argument("--to", choices=["cloze", "hf"], default="cloze")
    convert.set_defaults(func=cmd_convert)

    fill = sub.add_parser("fill-mask", help="top tokens for each [MASK] from a SavedModel or preset")
    fill.add_argument("model", help="SavedModel directory or preset directory")
    fill.add_argument("text", nargs="+", help="text containing [MASK]")
    fill.add_argument("--top-k", type=int, default=5)
    fill.set_defaults(func=cmd_fill_mask)

    score = sub.add_parser("score", help="score a corpus in Beam: pseudo-perplexity, prompt fills")
    score.add_argument("model", help="SavedModel directory (a pushed version or Format-Serving)")
    score.add_argument("--corpus", action="append", required=True,
                       help="corpus file, directory or glob (repeatable)")
    score.add_argument("--output", required=True, help="directory for documents.jsonl "
                                                       "(or .parquet) and prompts.jsonl")
    score.add_argument("--prompt", action="append", default=[],
                       help="text with [MASK] whose fills to write (repeatable)")
    score.add_argument("--top-k", type=int, default=5, help="fills per mask, 1..10")
    score.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                       help="format of the document scores (default: %(default)s)")
    score.add_argument("--text-field", default="text", help="JSON Lines field of the text")
    score.add_argument("--beam-arg", action="append", default=[],
                       help="Beam pipeline option, e.g. --beam-arg=--runner=DataflowRunner")
    score.set_defaults(func=cmd_score)

    corpus = sub.add_parser("default-corpus",
                            help="write the built-in corpus (stdlib docstrings)")
    corpus.add_argument("output")
    corpus.add_argument("--max-bytes", type=int, default=3_000_000)
    corpus.set_defaults(func=cmd_default_corpus)
    return parser


def quiet_libraries() -> None:
    """Keeps the terminal for Cloze's own progress: library chatter goes below WARNING."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("absl", "apache_beam", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Optional[List[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    quiet_libraries()
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"cloze {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
