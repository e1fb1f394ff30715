"""Evaluation: masked-LM metrics of a SavedModel, blessing rules, reports, batch scoring."""
