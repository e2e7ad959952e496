"""Built-in inpainting templates: image files in ``templates_dir``, each known by its file stem."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InvalidRequest, UnknownTemplate
from .paths import resolve_inside

__all__ = ["TEMPLATE_SUFFIXES", "list_templates", "template_path"]

log = logging.getLogger(__name__)

#: Checked case-insensitively; the first suffix wins when two files share a stem.
TEMPLATE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def _template_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    found: dict[str, Path] = {}
    candidates = sorted(
        (path for path in directory.iterdir() if path.suffix.lower() in TEMPLATE_SUFFIXES),
        key=lambda path: (path.stem, TEMPLATE_SUFFIXES.index(path.suffix.lower()), path.name),
    )
    for path in candidates:
        if path.name.startswith((".", "_")) or not path.is_file():
            continue
        if resolve_inside(path, directory, (directory,)) is None:
            log.warning("template %s links to %s, outside %s: ignored", path.name, path.resolve(), directory)
            continue
        found.setdefault(path.stem, path)
    return found


def list_templates(directory: Path | str) -> list[str]:
    """Ids of the built-in templates, sorted; empty when the folder is missing."""
    return list(_template_files(Path(directory)))


def template_path(directory: Path | str, template_id: str) -> Path:
    """The image file of a built-in template.

    The id is looked up among the folder's files, never joined onto the folder as a path,
    so ``../`` and absolute ids cannot reach outside it.

    Raises
    ------
    InvalidRequest
        The id contains a path separator or starts with a dot.
    UnknownTemplate
        No template has that id; the user message names it.
    """
    if not template_id or "/" in template_id or "\\" in template_id or template_id.startswith("."):
        raise InvalidRequest(
            f"template id {template_id!r} is not a plain name", user_message="That template name is not valid."
        )
    path = _template_files(Path(directory)).get(template_id)
    if path is None:
        shown = template_id if len(template_id) <= 60 else template_id[:57] + "..."
        raise UnknownTemplate(
            f"no template {template_id!r} in {directory}",
            user_message=f"There is no built-in template called '{shown}'.",
        )
    return path
