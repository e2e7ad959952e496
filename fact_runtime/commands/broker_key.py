"""``python -m fact_runtime broker-key``: print a new key for sealing what crosses Redis (``FACT_BROKER_KEY``)."""

from __future__ import annotations

import argparse

from ..executor.redis.sealing import KEY_ENV, generate_key


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.epilog = (
        f"Give the same key to the bot and every worker: {KEY_ENV}=<key>, or a file named by runtime.broker.key_file."
    )


def run(args: argparse.Namespace) -> int:
    print(generate_key())
    return 0
