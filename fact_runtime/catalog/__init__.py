"""The style catalogue and the built-in templates: admin-owned data, validated. Torch-free."""

from __future__ import annotations

from .catalog import ReloadReport, StyleCatalog, load_styles
from .schema import DEFAULT_LORA_WEIGHT, DEFAULT_NEGATIVE_PROMPT, SUBJECT_WORDS, LoraRef, Style
from .style_file import PREVIEWS_FOLDER
from .templates import TEMPLATE_SUFFIXES, list_templates, template_path

__all__ = [
    "DEFAULT_LORA_WEIGHT",
    "DEFAULT_NEGATIVE_PROMPT",
    "PREVIEWS_FOLDER",
    "SUBJECT_WORDS",
    "TEMPLATE_SUFFIXES",
    "LoraRef",
    "ReloadReport",
    "Style",
    "StyleCatalog",
    "list_templates",
    "load_styles",
    "template_path",
]
