"""Commit-ready TFMD schemas of Cloze's data.

``masked_lm.pbtxt`` is ``cloze.data.features.masked_lm_schema(128, 20)``, the
schema of masked-LM examples at the default ``DataConfig`` lengths. After
changing that function, regenerate it from the repository root with::

    python - > cloze/schemas/masked_lm.pbtxt <<'EOF'
    from google.protobuf import text_format
    from cloze.data.features import masked_lm_schema
    print(text_format.MessageToString(masked_lm_schema(128, 20)), end="")
    EOF
"""
import os


def default_schema_path() -> str:
    """The path of ``masked_lm.pbtxt``, the masked-LM schema at the default lengths.

    Example:
    >>> os.path.basename(default_schema_path())
    'masked_lm.pbtxt'
    """
    return os.path.join(os.path.dirname(__file__), "masked_lm.pbtxt")
