#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job on the built-in default corpus.
# Extra arguments go to `cloze run`, e.g. --output DIR or --set train.train_steps=100.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec cloze run "$@"
