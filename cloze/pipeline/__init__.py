"""Pipeline definition, runners and the ``cloze`` command line."""
