#!/usr/bin/env bash
# Idempotent setup: a virtualenv in .venv with the project and its test tools,
# Debian's docker-registry/skopeo/htpasswd for the registry tests (when root),
# and the reference `opa` from ../shared/opa/bin on PATH (when present).
# Source it (`. scripts/setup.sh`) to keep PATH, or run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi

missing=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
# redis/postgresql for queue mode (issue 18), podman as a Docker-API engine (issue 15).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v podman >/dev/null 2>&1 || missing+=(podman)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]} from Debian" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: ${missing[*]} missing and not root; registry tests will be skipped" >&2
  fi
fi

# promtool (checks deploy/prometheus/alerts.yaml and the Grafana dashboard's queries): taken
# from Debian's prometheus package without installing the server (no daemon, no user).
if ! command -v promtool >/dev/null 2>&1 && [ ! -x .venv/bin/promtool ]; then
  tmp="$(mktemp -d)"
  if (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb x); then
    cp "$tmp/x/usr/bin/promtool" .venv/bin/promtool
  else
    echo "setup: could not fetch Debian's prometheus package; promtool checks will be skipped" >&2
  fi
  rm -rf "$tmp"
fi

if [ -x "$ROOT/../shared/opa/bin/opa" ]; then
  export PATH="$(cd "$ROOT/../shared/opa/bin" && pwd):$PATH"
fi
export PATH="$ROOT/.venv/bin:$PATH"
