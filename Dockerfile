# The FACT portrait bot:  docker build -t fact-portrait-bot .   (or: docker compose build)
# Run it with compose.yaml (README, "Docker"): GPU, token from the environment, models and SQLite on volumes.
#
# A slim Python base: torch's CUDA wheels bring their own CUDA runtime and cuDNN (the nvidia-* wheels),
# so the base needs neither; the host needs only the NVIDIA driver and the container toolkit.
# Every package comes from the lock in requirements/ with its hash checked; layers, first to last:
# system libraries and the user, torch (requirements/<build>-torch.txt), the other dependencies
# (requirements/<build>.txt), the code. A code change rebuilds only the code; a lock change the
# dependencies; only a change to torch's own part of the lock downloads torch again.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
# The runtime user owns its home (caches of torch.compile, triton and the model hubs) and the two
# volumes, and nothing else: the code and the installed packages belong to root.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libglib2.0-0 libgomp1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && python -m venv /opt/venv \
 && groupadd --system --gid 10001 fact \
 && useradd --system --uid 10001 --gid fact --home-dir /home/fact --create-home --shell /usr/sbin/nologin fact \
 && mkdir -p /home/fact/.cache /app/data /app/cache \
 && chown fact:fact /home/fact/.cache /app/data /app/cache \
 && chmod 700 /app/data

# cuda: PyPI's torch for CUDA 13 with its nvidia-* wheels (a GPU host); cpu: PyTorch's CPU wheel,
# found at TORCH_WHEELS (a URL or, for an offline build, a folder served over HTTP).
ARG TORCH=cuda
ARG TORCH_WHEELS=https://download.pytorch.org/whl/cpu/torch/
COPY requirements/${TORCH}-torch.txt /opt/venv/requirements-torch.txt
RUN if [ "$TORCH" = cpu ]; then set -- --find-links "$TORCH_WHEELS"; fi \
 && pip install --require-hashes "$@" -r /opt/venv/requirements-torch.txt
COPY requirements/${TORCH}.txt requirements/no-deps.txt /opt/venv/
RUN pip install --require-hashes -r /opt/venv/${TORCH}.txt \
 && pip install --require-hashes --no-deps -r /opt/venv/no-deps.txt

WORKDIR /app
# The code last, owned by root; it runs from /app (python -m), not installed.
COPY config.yaml ./
COPY styles ./styles
COPY templates ./templates
COPY docker/entrypoint.sh ./docker/entrypoint.sh
COPY fact_runtime ./fact_runtime
COPY bot ./bot
# config.yaml keeps its paths relative to itself: the job store in /app/data, model weights in /app/cache.
VOLUME ["/app/data", "/app/cache"]
# The health endpoint listens on every address inside the container, so the check and scrapers reach it.
ENV FACT_CONFIG=/app/config.yaml FACT_BOT__HEALTH_HOST=0.0.0.0 HOME=/home/fact XDG_CACHE_HOME=/home/fact/.cache \
    MODELSCOPE_CACHE=/app/cache/modelscope HF_HOME=/app/cache/huggingface
USER fact
# The entrypoint checks whichever process this container runs: the bot (its port from its own settings)
# or a worker (the port it was started with).
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 CMD ["/app/docker/entrypoint.sh", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/docker/entrypoint.sh"]
