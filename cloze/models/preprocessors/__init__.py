"""Preprocessors: raw strings to the tensors a task consumes."""
