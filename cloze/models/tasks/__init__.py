"""Tasks: a backbone plus a head, compiled with sensible defaults."""
