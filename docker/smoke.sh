#!/usr/bin/env bash
# Smoke test on a real container engine (not part of CI: it needs Docker and minutes of CPU).
# Builds the image from the committed tree and runs in it: the styles listing, a tiny portrait of the
# shipped selfie, a start without DISCORD_TOKEN (one line, exit 2), and the health check of a worker
# (against a redis-server of the host) and of a bot that is not running. Then it rebuilds after a
# code-only change and says which layers were rebuilt. Prints the build time, image size and layers.
#
#   PYTHON_IMAGE=python:3.11-slim-bookworm docker/smoke.sh     a base the engine can pull
#   docker/smoke.sh --local-base                               no registry: debootstrap Debian bookworm
#                                                              with python3 and `docker import` it
# Environment: TORCH (default cpu), TORCH_WHEELS (where the CPU torch wheel is; a folder is served to the
# build over HTTP; default /opt/wheels when it exists), IMAGE (default fact-portrait-bot:smoke).
# Needs: docker, git, redis-server, python3; --local-base also debootstrap and root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${IMAGE:-fact-portrait-bot:smoke}
TORCH=${TORCH:-cpu}
if [ -z "${TORCH_WHEELS:-}" ]; then
  if [ -d /opt/wheels ]; then TORCH_WHEELS=/opt/wheels; else TORCH_WHEELS=https://download.pytorch.org/whl/cpu/torch/; fi
fi
WORK=$(mktemp -d /tmp/fact-smoke.XXXXXX)
PIDS=()
CONTAINERS=()
cleanup() {
  for container in "${CONTAINERS[@]}"; do docker rm -f "$container" >/dev/null 2>&1 || true; done
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'SMOKE FAILED: %s\n' "$*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [ "${1:-}" = --local-base ]; then
  PYTHON_IMAGE=fact-smoke-base:bookworm
  if ! docker image inspect "$PYTHON_IMAGE" >/dev/null 2>&1; then
    step "building the base $PYTHON_IMAGE: debootstrap bookworm + python3 (the release python:3.11-slim-bookworm uses)"
    started=$(date +%s)
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
      bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    # This host's certificate authorities, for pip inside the build: a host that reaches PyPI through
    # an inspecting proxy trusts that proxy's authority, which Debian's bundle does not hold.
    cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs/usr/local/share/host-ca-certificates.crt"
    tar -C "$WORK/rootfs" -c . | docker import --change 'CMD ["python3"]' \
      --change 'ENV PIP_CERT=/usr/local/share/host-ca-certificates.crt' - "$PYTHON_IMAGE" >/dev/null
    rm -rf "$WORK/rootfs"
    echo "base built in $(($(date +%s) - started)) s"
  fi
fi
PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim-bookworm}

if [ -d "$TORCH_WHEELS" ]; then
  port=$(free_port)
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$TORCH_WHEELS" >/dev/null 2>&1 &
  PIDS+=($!)
  TORCH_WHEELS="http://127.0.0.1:$port/"
fi

# The committed tree, so the smoke test builds what a clone builds (no virtual environment, no caches).
mkdir "$WORK/context"
git archive HEAD | tar -x -C "$WORK/context"

build() {
  docker build --network host --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg TORCH="$TORCH" \
    --build-arg TORCH_WHEELS="$TORCH_WHEELS" -t "$IMAGE" "$WORK/context"
}

step "docker build (base $PYTHON_IMAGE, torch $TORCH)"
started=$(date +%s)
build >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; fail "the build"; }
echo "built in $(($(date +%s) - started)) s"
echo "image size: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1 / 1e9}')"
echo "layers (newest first):"
docker history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | grep -v '^0B' | cut -c1-150

step "styles"
docker run --rm "$IMAGE" styles >"$WORK/styles.txt"
grep -Eq '^cheongsam +Cheongsam' "$WORK/styles.txt" || fail "styles lists no cheongsam"
tail -1 "$WORK/styles.txt"

step "a tiny portrait of the shipped selfie"
mkdir -m 777 "$WORK/out"
docker run --rm -v "$WORK/out:/out" "$IMAGE" -v portrait --selfie templates/astronaut.jpg --style Cheongsam \
  --preset tiny --size 128 --steps 10 -o /out 2>&1 | grep -E '^(done|out|note|error)' || true
ls "$WORK"/out/*.png >/dev/null 2>&1 || fail "no portrait written"
ls -l "$WORK"/out/*.png

step "the bot without DISCORD_TOKEN"
status=0
docker run --rm "$IMAGE" >"$WORK/no-token.txt" 2>&1 || status=$?
cat "$WORK/no-token.txt"
[ "$status" = 2 ] || fail "exit status $status, not 2"
[ "$(wc -l <"$WORK/no-token.txt")" = 1 ] || fail "not one line"

step "health checks"
status=0
docker run --rm "$IMAGE" healthcheck >"$WORK/bot-health.txt" 2>&1 || status=$?
echo "bot not running: exit $status: $(cat "$WORK/bot-health.txt")"
[ "$status" = 1 ] || fail "a bot health check with no bot passed"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
PIDS+=($!)
health_port=$(free_port)
worker=$(docker run -d --network host "$IMAGE" worker --redis "redis://127.0.0.1:$redis_port/0" --name smoke \
  --preset tiny --device cpu --health-port "$health_port")
CONTAINERS+=("$worker")
for _ in $(seq 60); do
  docker exec "$worker" /app/docker/entrypoint.sh healthcheck >/dev/null 2>&1 && break
  sleep 2
done
docker exec "$worker" /app/docker/entrypoint.sh healthcheck || { docker logs "$worker" | tail; fail "worker health"; }
echo "worker: the entrypoint's healthcheck passes (its /healthz on $health_port, not the bot's port)"
for _ in $(seq 30); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$worker")
  [ "$health" = healthy ] && break
  sleep 3
done
echo "worker container: Docker's HEALTHCHECK says $health"
[ "$health" = healthy ] || fail "the image's HEALTHCHECK did not pass for a worker"

step "a code-only change rebuilds only the code"
echo "# smoke: a code-only change" >>"$WORK/context/bot/__init__.py"
started=$(date +%s)
build >"$WORK/rebuild.log" 2>&1 || { tail -40 "$WORK/rebuild.log"; fail "the rebuild"; }
echo "rebuilt in $(($(date +%s) - started)) s; steps from cache vs run:"
grep -E '^Step [0-9]+/|Using cache|CACHED|^#[0-9]+ \[' "$WORK/rebuild.log" | cut -c1-120
echo
echo "SMOKE PASSED"
