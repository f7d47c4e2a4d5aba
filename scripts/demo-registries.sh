#!/usr/bin/env bash
# The demo registries of examples/config.yaml (local :5000, ecr :5001, gcr :5002): Debian's
# docker-registry on loopback, `local` seeded with examples/images/*.json; state in .demo/.
#   bash scripts/demo-registries.sh start    # idempotent; prints the seeded images
#   bash scripts/demo-registries.sh status   # exit 0 when all run, 3 otherwise
#   bash scripts/demo-registries.sh stop     # stops them and removes .demo/
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$ROOT/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
exec "$python" "$ROOT/scripts/demo_registries.py" "$@"
