"""Cloze's one custom artifact type; everything else uses TFX's standard artifacts."""
from tfx.types.artifact import Artifact

COUNTS_FILE = "counts.json"
# The Vocabulary artifact's custom property naming its VocabConfig.tokenizer.
TOKENIZER_PROPERTY = "tokenizer"


class Vocabulary(Artifact):
    """A tokenizer: its files at the artifact URI under ``cloze.data.tokenizers.TOKENIZER_FILES``
    names (``vocab.txt``; ``spiece.model``; ``vocab.json`` and ``merges.txt``), its kind in the
    custom property ``tokenizer`` (``wordpiece`` when absent, as in earlier runs)."""

    TYPE_NAME = "cloze.Vocabulary"


def tokenizer_kind(vocabulary: Vocabulary) -> str:
    """The ``VocabConfig.tokenizer`` whose files ``vocabulary`` holds."""
    return vocabulary.get_string_custom_property(TOKENIZER_PROPERTY) or "wordpiece"
