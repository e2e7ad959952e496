"""``python -m fact_runtime styles|templates``: what ``--style`` and ``--template-id`` accept."""

from __future__ import annotations

import argparse

from ..catalog import StyleCatalog, list_templates, template_path
from ..config import RuntimeConfig, load_runtime_config
from ..errors import ConfigError, StyleError
from .terminal import OK, add_config_argument, config_path, fail


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    add_config_argument(parser)
    if command_name == "styles":
        parser.add_argument("query", nargs="?", default="", help="only styles whose id, name or tags match")


def _config(args: argparse.Namespace) -> RuntimeConfig:
    path = config_path(args, is_required=False)
    return load_runtime_config(path) if path is not None else RuntimeConfig(preset="tiny")


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        if args.command == "templates":
            return _templates(config)
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
    except (ConfigError, StyleError) as exc:
        return fail("; ".join(str(exc).splitlines()))
    found = catalog.search(args.query, limit=len(catalog))
    if not found:
        return fail(f"no style matches '{args.query}'; run without a query to list all {len(catalog)}")
    width = max(len(style.id) for style in found)
    name_width = max(len(style.name) for style in found)
    print(f"{'id':<{width}}  {'name':<{name_width}}  base model  LoRA")
    for style in found:
        lora = "none" if style.lora is None else (str(style.lora.path) if style.lora.path else style.lora.model_id)
        print(f"{style.id:<{width}}  {style.name:<{name_width}}  {style.base_model:<10}  {lora}")
    print(f"{len(found)} of {len(catalog)} styles in {config.styles_dir}; use one with --style ID (or its name)")
    return OK


def _templates(config: RuntimeConfig) -> int:
    ids = list_templates(config.templates_dir)
    if not ids:
        print(f"no built-in templates in {config.templates_dir} (templates/README.md says how to add some)")
        return OK
    for template_id in ids:
        print(f"{template_id}  {template_path(config.templates_dir, template_id).name}")
    print(f"{len(ids)} templates in {config.templates_dir}; use one with inpaint --template-id ID")
    return OK
