"""Heads: hidden states in, task outputs out."""
