"""TensorFlow's ``saved_model_cli`` with the tensorflow-text ops registered.

Needed for SentencePiece models only (their graph holds ``SentencepieceOp`` and
``SentencepieceTokenizeOp``): the stock ``saved_model_cli run`` fails on them for
every signature, ``serving_default`` too, because it loads the MetaGraph into a
TF1 session, which imports the whole graph with its function library (the text
signatures' tokenizer included), and none of its flags loads an op library.
WordPiece and byte-level BPE models hold only core TensorFlow ops, so the stock
tool runs them; ``show`` reads only the protos and works for every model
(docs/serving.md). This runs the same tool after ``import tensorflow_text``, with
the same arguments::

    python -m cloze.export.saved_model_cli run --dir MODEL --tag_set serve \\
        --signature_def fill_mask --input_exprs 'texts=["the [MASK] sat"]'
"""
import sys

import tensorflow_text  # noqa: F401  (registers the ops before the graph is imported)
from tensorflow.python.tools import saved_model_cli


def main() -> None:
    """Runs ``saved_model_cli`` on ``sys.argv``."""
    sys.argv[0] = "saved_model_cli"
    saved_model_cli.main()


if __name__ == "__main__":
    main()
