"""``python -m fact_runtime <command>``: the runtime's command line, one module per command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Command name -> module in fact_runtime.commands exposing add_arguments(parser) and run(args) -> int.
# Modules are imported only when their command runs, so `--help` stays fast.
COMMANDS = {
    "check-weights": ("weights", "Load released FACT weight files and report every tensor."),
    "faces": ("faces", "Show the faces found in a photo, or why it is refused."),
    "portrait": ("generate", "Make portraits from a selfie and a style, without Discord."),
    "inpaint": ("generate", "Put a selfie's face into a template photo, without Discord."),
    "download": ("download", "Prefetch every model that config.yaml and the styles name."),
    "worker": ("worker", "Serve the bot's jobs from Redis on one GPU (runtime.backend: redis)."),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fact_runtime")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(f"fact_runtime.commands.{module_name}")
            module.add_arguments(sub, name)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
