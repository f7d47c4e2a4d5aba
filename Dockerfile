# freightliner-policy: the adapter service (`freightliner-policy serve`).
#
# The base is pinned by digest (a tag can be re-pushed, a digest cannot); the tag beside it
# says which image the digest is. To move to a newer base, resolve the new tag's digest
# (`docker buildx imagetools inspect python:3.11.X-slim-bookworm`) and replace both.
# Only the packages go into the image: no tests, no deploy/ demo files (the compose demo
# mounts what it needs), no .venv (.dockerignore).
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5

LABEL org.opencontainers.image.title="freightliner-policy" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FREIGHTLINER_HEALTH_URL=http://127.0.0.1:8080/health
WORKDIR /src
COPY pyproject.toml README.md LICENSE CHANGELOG.md ./
COPY adapter ./adapter
COPY migrate ./migrate
COPY rego ./rego
RUN pip install ".[scale]" && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /state freightliner \
    && mkdir -p /state && chown freightliner /state
WORKDIR /state
USER 10001
EXPOSE 8080
# `serve`'s /health; set FREIGHTLINER_HEALTH_URL when --listen uses another port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['FREIGHTLINER_HEALTH_URL'], timeout=2)"]
ENTRYPOINT ["freightliner-policy"]
CMD ["serve", "--config", "/config/config.yaml", "--policies", "/policies", "--listen", "0.0.0.0:8080"]
