# syntax=docker/dockerfile:1.7
# The FACT portrait bot on a CUDA host. Build:  docker build -t fact-portrait-bot .
# Run: see README ("Docker"): GPU, token from the environment, models and SQLite on volumes.

ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

FROM ${CUDA_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CUDA build of torch first, so the project's dependencies resolve against it.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fact_runtime ./fact_runtime
COPY bot ./bot
RUN pip install .

FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends python3.11 libgl1 libglib2.0-0 \
 && apt-get purge -y software-properties-common gpg-agent && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
RUN groupadd --system --gid 10001 fact && useradd --system --uid 10001 --gid fact --home-dir /app fact
WORKDIR /app
COPY --chown=fact:fact config.yaml ./
COPY --chown=fact:fact styles ./styles
COPY --chown=fact:fact templates ./templates
# config.yaml keeps its paths relative to itself: the job store in /app/data, model weights in /app/cache.
# The job store holds selfies: only the bot's user may open its folder.
RUN mkdir -p /app/data /app/cache && chown fact:fact /app/data /app/cache && chmod 700 /app/data
VOLUME ["/app/data", "/app/cache"]
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MODELSCOPE_CACHE=/app/cache/modelscope HF_HOME=/app/cache/huggingface
USER fact
# Loopback is enough: the check runs inside the container. Set bot.health_host to 0.0.0.0 to scrape /metrics from outside.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
