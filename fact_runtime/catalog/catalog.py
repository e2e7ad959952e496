"""The style catalogue: every style file of a folder, validated together and swapped atomically."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import ValidationError

from ..errors import StyleError, UnknownStyle
from .schema import LoraRef, Style

__all__ = ["PREVIEWS_FOLDER", "ReloadReport", "StyleCatalog", "load_styles", "preview_candidates"]

log = logging.getLogger(__name__)

_STYLE_SUFFIXES = (".yaml", ".yml")
#: The folder, inside the styles folder, of previews found by style id.
PREVIEWS_FOLDER = "previews"


@dataclass(frozen=True, slots=True)
class ReloadReport:
    count: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    styles: Mapping[str, Style]
    version: int


class StyleCatalog:
    """The styles of one folder; readers see either the old set or the new one, never a mix."""

    def __init__(self, directory: Path | str, *, base_models: Collection[str] | None = None) -> None:
        self.directory = Path(directory)
        self._base_models = frozenset(base_models) if base_models is not None else None
        self._snapshot = _Snapshot(styles=MappingProxyType({}), version=0)
        # Reloads are serialised so each diff is taken against the set it replaces.
        self._reload_lock = threading.Lock()

    @property
    def version(self) -> int:
        return self._snapshot.version

    def reload(self) -> ReloadReport:
        """Validate every style file, then replace the whole set in one assignment.

        Raises
        ------
        StyleError
            Any file is invalid. The message lists every problem as ``<file>: <field>: <expected>``;
            the previous set and version stay in place.
        """
        with self._reload_lock:
            loaded = _read_folder(self.directory, self._base_models)
            old = self._snapshot.styles
            report = ReloadReport(
                count=len(loaded),
                added=tuple(sorted(loaded.keys() - old.keys())),
                removed=tuple(sorted(old.keys() - loaded.keys())),
                changed=tuple(sorted(i for i in loaded.keys() & old.keys() if loaded[i] != old[i])),
            )
            self._snapshot = _Snapshot(styles=MappingProxyType(loaded), version=self._snapshot.version + 1)
        log.info(
            "styles v%d: %d loaded (%d added, %d removed, %d changed)",
            self.version,
            report.count,
            len(report.added),
            len(report.removed),
            len(report.changed),
        )
        return report

    def get(self, style_id: str) -> Style:
        """The style with this id.

        Raises
        ------
        UnknownStyle
            No style has that id; the user message names it.
        """
        try:
            return self._snapshot.styles[style_id]
        except KeyError:
            raise _unknown_style(style_id) from None

    def find(self, text: str) -> Style:
        """The style a person means: its id, in any case, or its display name ("Cheongsam", "comic illustration").

        Raises
        ------
        UnknownStyle
            Nothing matches; the user message names the text.
        """
        styles = self._snapshot.styles
        if text in styles:
            return styles[text]
        needle = " ".join(text.split()).casefold()
        for style in styles.values():
            if needle in (style.id.casefold(), " ".join(style.name.split()).casefold()):
                return style
        raise _unknown_style(text)

    def search(self, query: str, *, limit: int = 25) -> list[Style]:
        """Styles matching ``query`` for autocomplete: prefix matches first, then word starts, then substrings."""
        styles = list(self._snapshot.styles.values())
        needle = query.strip().lower()
        if not needle:
            return styles[: max(limit, 0)]
        ranked = []
        for position, style in enumerate(styles):
            rank = _match_rank(style, needle)
            if rank is not None:
                ranked.append((rank, position, style))
        ranked.sort(key=lambda item: item[:2])
        return [style for _, _, style in ranked[: max(limit, 0)]]

    def all(self) -> list[Style]:
        return list(self._snapshot.styles.values())

    def __len__(self) -> int:
        return len(self._snapshot.styles)

    def __contains__(self, style_id: object) -> bool:
        return style_id in self._snapshot.styles


def _unknown_style(text: str) -> UnknownStyle:
    """The refusal for a style nobody defined; front ends add where the styles are listed."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return UnknownStyle(f"unknown style {text!r}", user_message=f"There is no style called '{shown}'.")


def load_styles(directory: Path | str, *, base_models: Collection[str] | None = None) -> StyleCatalog:
    """Build a catalogue for ``directory`` and load it.

    Raises
    ------
    StyleError
        A style file is invalid (see ``StyleCatalog.reload``).
    """
    catalog = StyleCatalog(directory, base_models=base_models)
    catalog.reload()
    return catalog


def _match_rank(style: Style, needle: str) -> int | None:
    name = style.name.lower()
    if style.id.startswith(needle) or name.startswith(needle):
        return 0
    words = [*re.split(r"[\s\-_/()]+", name), *style.id.split("-"), *style.tags]
    if any(word.startswith(needle) for word in words):
        return 1
    if needle in style.id or needle in name or any(needle in tag for tag in style.tags):
        return 2
    return None


def _read_folder(directory: Path, base_models: frozenset[str] | None) -> dict[str, Style]:
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
        style, file_problems = _read_file(path, directory, base_models)
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


def _read_file(path: Path, directory: Path, base_models: frozenset[str] | None) -> tuple[Style | None, list[str]]:
    name = path.name
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
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
        style = Style.model_validate(document, context={"base_models": base_models})
    except ValidationError as exc:
        return None, [f"{name}: {_describe(item)}" for item in exc.errors()]
    problems = []
    if style.id != path.stem:
        problems.append(f"{name}: id: must equal the file name without extension ({path.stem!r}), not {style.id!r}")
    if style.preview is not None:
        preview = style.preview if style.preview.is_absolute() else directory / style.preview
        if not preview.is_file():
            problems.append(f"{name}: preview: must be an existing image file; {preview} not found")
        style = style.model_copy(update={"preview": preview.resolve()})
    else:
        # Without a `preview:` key, previews/<id>.png (what `python -m fact_runtime previews` writes) is used.
        found = next((p for p in preview_candidates(directory, style.id) if p.is_file()), None)
        if found is not None:
            style = style.model_copy(update={"preview": found.resolve()})
    if style.lora is not None and style.lora.path is not None and not style.lora.path.is_absolute():
        # Local LoRA paths are relative to the styles folder, like previews.
        lora = style.lora.model_copy(update={"path": (directory / style.lora.path).resolve()})
        style = style.model_copy(update={"lora": lora})
    return (None if problems else style), problems


def preview_candidates(directory: Path, style_id: str) -> list[Path]:
    """Where a style's preview is looked for when its file names none: ``previews/<id>.png`` (or .jpg, .webp)."""
    return [directory / PREVIEWS_FOLDER / f"{style_id}{suffix}" for suffix in (".png", ".jpg", ".jpeg", ".webp")]


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
