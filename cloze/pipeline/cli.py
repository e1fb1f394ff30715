"""The ``cloze`` command line."""
import argparse
import json
import logging
import sys
import warnings
from typing import List, Optional

from cloze.config import ConfigError, PipelineConfig

FILL_MASK_EXAMPLE = "Return the [MASK] of the list."


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
    """The config file (if any), then ``--set`` overrides, then the shortcut flags."""
    values = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            values = json.load(f)
    for override in args.set:
        section, field, value = parse_override(override)
        values.setdefault(section, {})[field] = value
    if args.corpus:
        values.setdefault("corpus", {})["paths"] = args.corpus
    if args.vocab_file:
        values.setdefault("vocab", {})["vocab_file"] = args.vocab_file
    return PipelineConfig.from_dict(values)


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


def cmd_fill_mask(args) -> int:
    from cloze.export.fill_mask import FillMasker

    print_fills(FillMasker(args.model), args.text, args.top_k)
    return 0


def cmd_default_corpus(args) -> int:
    from cloze.data.default_corpus import write_default_corpus

    print(write_default_corpus(args.output, args.max_bytes))
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloze", description="Pretrain BERT-family masked language models and ship them.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole TFX pipeline locally: text -> TFRecords -> "
                                     "trained model -> SavedModel and preset")
    run.add_argument("--output", default="cloze_output", help="output directory (default: %(default)s)")
    run.add_argument("--corpus", action="append", default=[],
                     help="corpus file, directory or glob (repeatable); default: the built-in "
                          "corpus of Python standard-library docstrings and comments")
    run.add_argument("--vocab-file", help="use this vocab.txt instead of learning one")
    run.add_argument("--config", help="JSON file with PipelineConfig fields")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="override one config field, e.g. train.train_steps=200 (repeatable)")
    run.add_argument("--beam-arg", action="append", default=[],
                     help="Beam pipeline option, e.g. --beam-arg=--direct_num_workers=2")
    run.set_defaults(func=cmd_run)

    fill = sub.add_parser("fill-mask", help="print the top tokens for each [MASK] in text, "
                                            "from a SavedModel or a preset directory")
    fill.add_argument("model", help="SavedModel directory or preset directory")
    fill.add_argument("text", nargs="+", help="text containing [MASK]")
    fill.add_argument("--top-k", type=int, default=5)
    fill.set_defaults(func=cmd_fill_mask)

    corpus = sub.add_parser("default-corpus", help="write the built-in corpus (standard-library "
                                                   "docstrings and comments) to a directory")
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
