#!/usr/bin/env bash
# Creates or updates .venv (Python 3.10, pinned by constraints.txt) and activates it.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again: it reinstalls
# only when constraints.txt or pyproject.toml changed. Installs the test and airflow
# extras, so that tests/pipeline/test_airflow_dag.py runs the DAG under Airflow.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.cloze-install-stamp"

find_python310() {
  local candidate
  for candidate in "${CLOZE_PYTHON:-}" python3.10 \
      "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.10*/bin/python3.10 \
      /usr/local/bin/python3.10 /usr/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      command -v "$candidate" || echo "$candidate"
      return 0
    fi
  done
  echo "cloze: Python 3.10 not found (TFX 1.16 needs it); install it or set CLOZE_PYTHON" >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  PY="$(find_python310)"
  echo "cloze: creating $VENV with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

WANT="$(cat "$ROOT/constraints.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  echo "cloze: installing pinned dependencies into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$ROOT/constraints.txt" -e "$ROOT[test,airflow]"
  echo "$WANT" > "$STAMP"
else
  echo "cloze: environment $VENV is up to date"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
