#!/bin/sh
# The image's one entry point. Runtime commands go to `python -m fact_runtime`, everything else
# (nothing: serve; sync; --help) to `python -m bot`; `healthcheck` probes whichever process runs here.
# Options may come first (`-v styles`, `--config FILE sync`): the first word that is not an option
# or an option's value is the command. So `docker compose run --rm bot download` fetches the models.
set -e
RUNTIME_COMMANDS=" download styles templates previews portrait inpaint group upscale vary faces check-weights worker "
# Written when a worker starts: the health URL the HEALTHCHECK must probe instead of the bot's.
WORKER_HEALTH="${FACT_WORKER_HEALTH_FILE:-/tmp/fact-worker-health-url}"

command=""
leading=0
expects_value=0
for arg in "$@"; do
  if [ "$expects_value" = 1 ]; then
    expects_value=0
  else
    case "$arg" in
      --config|--preset|--redis) expects_value=1 ;;
      -*) ;;
      *) command="$arg"; break ;;
    esac
  fi
  leading=$((leading + 1))
done

if [ "$command" = healthcheck ] && [ "$leading" = 0 ] && [ -f "$WORKER_HEALTH" ]; then
  exec python -c '
import sys, urllib.request
url = sys.argv[1]
try:
    urllib.request.urlopen(url, timeout=4).close()
except Exception as exc:
    print(f"unhealthy: {url} ({exc})", file=sys.stderr)
    sys.exit(1)
' "$(cat "$WORKER_HEALTH")"
fi

case "$RUNTIME_COMMANDS" in
  *" $command "*) ;;
  *) exec python -m bot "$@" ;;
esac

# python -m fact_runtime takes only -v before the command: the other leading options move after it.
total=$#
verbose=""
index=0
for arg in "$@"; do
  index=$((index + 1))
  if [ "$index" -le "$leading" ] && { [ "$arg" = -v ] || [ "$arg" = --verbose ]; }; then verbose=-v; fi
done
[ -n "$verbose" ] && set -- "$@" "$verbose"
set -- "$@" "$command"
index=0
for arg in "$@"; do
  index=$((index + 1))
  [ "$index" -gt "$total" ] && break
  if [ "$index" -le "$leading" ]; then
    [ "$arg" = -v ] || [ "$arg" = --verbose ] || set -- "$@" "$arg"
  elif [ "$index" -gt $((leading + 1)) ]; then
    set -- "$@" "$arg"
  fi
done
shift "$total"

if [ "$command" = worker ]; then
  # A worker serves /healthz (for the HEALTHCHECK) and /metrics (for Prometheus) unless told a port.
  port=""
  previous=""
  for arg in "$@"; do
    case "$arg" in --health-port=*) port="${arg#--health-port=}" ;; esac
    [ "$previous" = --health-port ] && port="$arg"
    previous="$arg"
  done
  if [ -z "$port" ]; then
    port="${FACT_WORKER_HEALTH_PORT:-9100}"
    set -- "$@" --health-host 0.0.0.0 --health-port "$port"
  fi
  echo "http://127.0.0.1:$port/healthz" > "$WORKER_HEALTH"
fi
exec python -m fact_runtime "$@"
