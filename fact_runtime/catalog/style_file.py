"""Reading a styles folder: every file checked (size, links, YAML, schema, paths) and every problem named."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..config import RuntimeConfig
from ..errors import StyleError
from .paths import read_capped, resolve_inside
from .schema import LoraRef, Style

__all__ = ["DEFAULT_MAX_STYLE_BYTES", "PREVIEWS_FOLDER", "StyleRules", "preview_candidates", "read_folder"]

log = logging.getLogger(__name__)

_STYLE_SUFFIXES = (".yaml", ".yml")
_PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: The folder, inside the styles folder, of previews found by style id.
PREVIEWS_FOLDER = "previews"
DEFAULT_MAX_STYLE_BYTES: int = RuntimeConfig.model_fields["max_style_bytes"].default


@dataclass(frozen=True, slots=True)
class StyleRules:
    """What a style file may name: base models, where local files may live, how large the file may be."""

    directory: Path
    base_models: frozenset[str] | None
    #: Folders a local LoRA may live in: the styles folder, and the model cache when known.
    lora_roots: tuple[Path, ...]
    max_bytes: int


def read_folder(rules: StyleRules) -> dict[str, Style]:
    directory = rules.directory
    if not directory.is_dir():
        raise StyleError(f"{directory}: styles folder not found")
    files = sorted(
        path
        for path in directory.iterdir()
        if path.suffix in _STYLE_SUFFIXES and not path.name.startswith(("_", ".")) and path.is_file()
    )
    styles: dict[str, Style] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for path in files:
        style, file_problems = _read_file(path, rules)
        problems.extend(file_problems)
        if style is None:
            continue
        if style.id in styles:
            problems.append(f"{path.name}: id: must be unique, {style.id!r} is also defined by {origin[style.id]}")
            continue
        styles[style.id] = style
        origin[style.id] = path.name
    if problems:
        raise StyleError(f"{len(problems)} problem(s) in {directory}:\n" + "\n".join(problems))
    return dict(sorted(styles.items()))


def _read_file(path: Path, rules: StyleRules) -> tuple[Style | None, list[str]]:
    name, directory = path.name, rules.directory
    if resolve_inside(path, directory, (directory,)) is None:
        return None, [f"{name}: (file): is a link to {path.resolve()}, outside the styles folder; refused"]
    try:
        data = read_capped(path, rules.max_bytes)
        if data is None:
            size = path.stat().st_size
            return None, [f"{name}: (file): is {size} bytes; a style file may have at most {rules.max_bytes}"]
        document = yaml.safe_load(data.decode("utf-8"))
    except OSError as exc:
        return None, [f"{name}: (file): cannot be read ({exc.strerror})"]
    except UnicodeDecodeError:
        return None, [f"{name}: (file): must be UTF-8 text"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return None, [f"{name}: (file): must be valid YAML; parse error{where}: {getattr(exc, 'problem', exc)}"]
    if not isinstance(document, dict):
        return None, [f"{name}: (file): must be a mapping of style fields (id, name, prompt, ...)"]
    try:
        style = Style.model_validate(document, context={"base_models": rules.base_models})
    except ValidationError as exc:
        return None, [f"{name}: {_describe(item)}" for item in exc.errors()]
    problems = []
    if style.id != path.stem:
        problems.append(f"{name}: id: must equal the file name without extension ({path.stem!r}), not {style.id!r}")
    if style.preview is not None:
        preview = resolve_inside(style.preview, directory, (directory,))
        if preview is None:
            problems.append(f"{name}: preview: must be a file inside the styles folder; {style.preview} is not")
        elif preview.suffix.lower() not in _PREVIEW_SUFFIXES:
            problems.append(f"{name}: preview: must be a PNG, JPEG or WebP image; {style.preview} is not")
        elif not preview.is_file():
            problems.append(f"{name}: preview: must be an existing image file; {preview} not found")
        style = style.model_copy(update={"preview": preview})
    else:
        # Without a `preview:` key, previews/<id>.png (what `python -m fact_runtime previews` writes) is used.
        style = style.model_copy(update={"preview": _found_preview(directory, style.id)})
    if style.lora is not None and style.lora.path is not None:
        # Local LoRA paths are relative to the styles folder, like previews.
        lora_path = resolve_inside(style.lora.path, directory, rules.lora_roots)
        if lora_path is None:
            folders = " or ".join(str(root) for root in rules.lora_roots)
            problems.append(f"{name}: lora.path: must be a file inside {folders}; {style.lora.path} is not")
        else:
            style = style.model_copy(update={"lora": style.lora.model_copy(update={"path": lora_path})})
    return (None if problems else style), problems


def preview_candidates(directory: Path, style_id: str) -> list[Path]:
    """Where a style's preview is looked for when its file names none: ``previews/<id>.png`` (or .jpg, .webp)."""
    return [directory / PREVIEWS_FOLDER / f"{style_id}{suffix}" for suffix in _PREVIEW_SUFFIXES]


def _found_preview(directory: Path, style_id: str) -> Path | None:
    for candidate in preview_candidates(directory, style_id):
        inside = resolve_inside(candidate, directory, (directory,))  # a link out of the folder is not used
        if inside is not None and inside.is_file():
            return inside
    return None


def _describe(item: Mapping) -> str:
    field = ".".join(str(part) for part in item["loc"]) or "(file)"
    if item["type"] == "extra_forbidden":
        allowed = ", ".join(Style.model_fields) if len(item["loc"]) == 1 else ", ".join(LoraRef.model_fields)
        return f"{field}: unknown key; allowed keys are {allowed}"
    if item["type"] == "string_pattern_mismatch":
        return f"{field}: must be lowercase letters and digits joined by '-', like 'summer-beach'"
    if item["type"] == "missing":
        return f"{field}: required field is missing"
    return f"{field}: {item['msg'].removeprefix('Value error, ')}"
