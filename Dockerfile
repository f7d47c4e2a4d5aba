# freightliner-policy: the adapter service (`freightliner-policy serve`) and the demo seed script.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapter ./adapter
COPY migrate ./migrate
COPY rego ./rego
COPY deploy ./deploy
RUN pip install ".[scale]" && useradd --system --uid 10001 --home-dir /state freightliner \
    && mkdir -p /state && chown freightliner /state
USER 10001
EXPOSE 8080
ENTRYPOINT ["freightliner-policy"]
CMD ["serve", "--config", "/config/config.yaml", "--policies", "/policies", "--listen", "0.0.0.0:8080"]
