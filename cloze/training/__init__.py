"""Training: TFRecords in, a trained ``MaskedLM`` out. Shared by the TFX Trainer and the CLI."""
