"""Cloze's one custom artifact type; everything else uses TFX's standard artifacts."""
from tfx.types.artifact import Artifact

VOCABULARY_FILE = "vocab.txt"
COUNTS_FILE = "counts.json"


class Vocabulary(Artifact):
    """A WordPiece vocabulary: ``vocab.txt`` at the artifact URI, one token per line."""

    TYPE_NAME = "cloze.Vocabulary"
