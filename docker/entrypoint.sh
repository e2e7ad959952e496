#!/bin/sh
# The image's one entry point: runtime commands go to `python -m fact_runtime`, everything else
# (nothing: serve; sync; healthcheck; --help) to `python -m bot`. So `docker compose run --rm bot
# download` fetches the models and `docker compose run --rm bot sync --guild ID` publishes the commands.
set -e
case "${1:-}" in
  download|styles|templates|previews|portrait|inpaint|upscale|vary|faces|check-weights|worker)
    exec python -m fact_runtime "$@" ;;
  *)
    exec python -m bot "$@" ;;
esac
