#!/usr/bin/env bash
# The whole test suite: lint, types, the Rego library's own tests under the
# reference opa, then pytest (real registries, real OPA, real HTTP servers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "== ruff"; ruff check adapter migrate tests benchmarks && ruff format --check --quiet adapter migrate tests benchmarks
echo "== mypy --strict"; mypy
echo "== lint-imports (layers, docs/architecture.md)"; lint-imports
if command -v opa >/dev/null 2>&1; then
  echo "== opa check + opa test rego/"; opa check --strict rego && opa test rego
fi
echo "== pytest"
exec pytest -q -p no:cacheprovider "$@"
