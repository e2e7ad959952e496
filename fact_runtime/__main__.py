"""``python -m fact_runtime <command>``: the runtime's command line, one module per command.

Exit status (every command): 0 done; 2 nothing was done because something must be fixed first
(one ``error:`` line says what); 1 the work started and failed. Tracebacks only with ``-v``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .commands.terminal import FAILED, setup_logging

log = logging.getLogger(__name__)

# Command name -> module in fact_runtime.commands exposing add_arguments(parser) and run(args) -> int.
# Modules are imported only when their command runs, so `--help` stays fast.
COMMANDS = {
    "styles": ("catalogue", "List the styles: id, name, base model and LoRA."),
    "templates": ("catalogue", "List the built-in inpainting templates."),
    "portrait": ("generate", "Make portraits from a selfie and a style, without Discord."),
    "inpaint": ("generate", "Put a selfie's face into a template photo, without Discord."),
    "group": ("group", "Put several people's faces into one template photo, without Discord."),
    "upscale": ("follow_up", "Make a result image 2x (or 4x) larger with a light redraw, without Discord."),
    "vary": ("follow_up", "Make a variation of a result image (same person, style and size), without Discord."),
    "faces": ("faces", "Show the faces found in a photo, or why it is refused."),
    "previews": ("previews", "Render one portrait per style, shown by /styles browse."),
    "download": ("download", "Fetch every model that config.yaml and the styles name."),
    "check-weights": ("weights", "Load FACT weight files (given, or the configured ones) and report every tensor."),
    "verify": ("verify", "Check images for the AI-made marks: invisible watermark, XMP, C2PA Content Credentials."),
    "worker": ("worker", "Serve the bot's jobs from Redis on one GPU (runtime.backend: redis)."),
    "broker-key": ("broker_key", "Print a new key that seals the bot's messages in Redis (FACT_BROKER_KEY)."),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fact_runtime")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, library warnings, tracebacks")
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
    setup_logging(is_verbose=args.verbose)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`); Python would complain again when flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except Exception as exc:
        log.debug("unexpected failure", exc_info=True)
        hint = "" if args.verbose else " (run with -v for the traceback)"
        print(f"error: unexpected {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return FAILED
    return status


if __name__ == "__main__":
    sys.exit(main())
