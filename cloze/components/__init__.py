"""TFX components: thin specs whose executors call the library code in ``cloze.data``
and ``cloze.training``, which is tested without TFX."""
