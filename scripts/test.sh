#!/usr/bin/env bash
# Run the test suite (after scripts/setup.sh): lint, then pytest. Extra arguments go to pytest,
# e.g. ./scripts/test.sh -k transport, or ./scripts/test.sh -m slow for the longer tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KVISION_VENV:-$ROOT/.venv}"
cd "$ROOT"
[[ -x "$VENV/bin/python" ]] || { echo "no $VENV: run ./scripts/setup.sh first" >&2; exit 1; }
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
"$VENV/bin/ruff" check --quiet kvision_driving scripts test launch setup.py
exec "$VENV/bin/python" -m pytest "$@"
