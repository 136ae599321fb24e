#!/usr/bin/env bash
# Create .venv-msprog (repo root) holding pymsprog 1.0.7, the reference for openhsct.outcomes.progression.
# pymsprog pins numpy<2 and pandas<3, so it cannot share the project venv. Idempotent: quick when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-msprog"
PY="$VENV/bin/python"
if [ -x "$PY" ] && "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('pymsprog') != '1.0.7')" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$VENV"
"$PY" -m pip install --quiet --disable-pip-version-check "pymsprog==1.0.7"
"$PY" -c "import pymsprog; print('pymsprog', pymsprog.__file__)"
