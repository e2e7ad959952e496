"""The built-in inpainting templates as the commands offer them: checked choice and autocomplete."""

from __future__ import annotations

import logging
from pathlib import Path

from discord import app_commands

from fact_runtime import UnknownTemplate, check_template_choice, list_templates

from .errors import NoTemplates

__all__ = ["BuiltinTemplates"]

log = logging.getLogger(__name__)


class BuiltinTemplates:
    """The templates folder (``runtime.templates_dir``) for ``/inpaint`` and ``/group``."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder

    def names(self) -> list[str]:
        return [] if self._folder is None else list_templates(self._folder)

    def check_choice(self, *, has_template: bool, template_id: str | None) -> None:
        """One of an uploaded template or a built-in id, and that id exists.

        Raises
        ------
        InvalidRequest, NoTemplates, UnknownTemplate
        """
        check_template_choice(has_template=has_template, template_id=template_id)
        if template_id is None:
            return
        known = self.names()
        if not known:
            raise NoTemplates(f"template {template_id!r} asked for; {self._folder} has none")
        if template_id not in known:
            raise UnknownTemplate(f"unknown template {template_id!r}")

    def choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete: the names containing what was typed, at most Discord's 25."""
        needle = current.strip().lower()
        names = [name for name in self.names() if needle in name.lower()]
        return [app_commands.Choice(name=name[:100], value=name) for name in names[:25]]
