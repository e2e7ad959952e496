# syntax=docker/dockerfile:1.7
# The FACT portrait bot for a CUDA host:  docker build -t fact-portrait-bot .   (or: docker compose build)
# Run it with compose.yaml (README, "Docker"): GPU, token from the environment, models and SQLite on volumes.
#
# A slim Python base: torch's CUDA wheels bring their own CUDA runtime and cuDNN (the nvidia-* wheels),
# so the base needs neither; the host needs only the NVIDIA driver and the container toolkit.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libglib2.0-0 libgomp1 \
 && rm -rf /var/lib/apt/lists/*

# Dependencies in layers of their own: they are rebuilt only when the torch pin or pyproject.toml change.
FROM base AS deps
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"
COPY pyproject.toml docker/requirements.py /tmp/build/
RUN python /tmp/build/requirements.py /tmp/build/pyproject.toml > /tmp/build/requirements.txt \
 && pip install -r /tmp/build/requirements.txt \
 && pip install --no-deps "invisible-watermark==0.2.0" \
 && rm -rf /tmp/build

FROM base
COPY --from=deps /opt/venv /opt/venv
RUN groupadd --system --gid 10001 fact && useradd --system --uid 10001 --gid fact --home-dir /app fact
WORKDIR /app
# The code last: a change to it rebuilds only this layer. It runs from /app (python -m), not installed.
COPY --chown=fact:fact config.yaml ./
COPY --chown=fact:fact styles ./styles
COPY --chown=fact:fact templates ./templates
COPY --chown=fact:fact docker/entrypoint.sh ./docker/entrypoint.sh
COPY --chown=fact:fact fact_runtime ./fact_runtime
COPY --chown=fact:fact bot ./bot
# config.yaml keeps its paths relative to itself: the job store in /app/data, model weights in /app/cache.
# The job store holds selfies: only the bot's user may open its folder.
RUN mkdir -p /app/data /app/cache && chown fact:fact /app/data /app/cache && chmod 700 /app/data
VOLUME ["/app/data", "/app/cache"]
# The health endpoint listens on every address inside the container, so the check and scrapers reach it.
ENV PATH=/opt/venv/bin:$PATH FACT_CONFIG=/app/config.yaml FACT_BOT__HEALTH_HOST=0.0.0.0 \
    MODELSCOPE_CACHE=/app/cache/modelscope HF_HOME=/app/cache/huggingface
USER fact
# The check reads the bot's own settings (config.yaml and FACT_BOT__* variables), so the port is never hard-coded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 CMD ["python", "-m", "bot", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/docker/entrypoint.sh"]
