"""The data stage: raw text -> documents -> WordPiece vocabulary -> masked LM TFRecords.

Reading order, following the data: ``corpus`` (files -> ``Document``) and
``default_corpus`` (the built-in corpus), ``wordpiece`` (learn and load the
vocabulary), ``packing`` and ``masking`` (token ids -> masked sequences, pure
numpy), ``features`` (the TFRecord format and its schema), ``mlm_examples``
(the Beam transforms that tie them together) and ``jobs`` (the entry points the
TFX executors call).
"""
