"""The style catalogue: every style file of a folder, validated together and swapped atomically."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import UnknownStyle
from .schema import Style
from .style_file import DEFAULT_MAX_STYLE_BYTES, StyleRules, read_folder

if TYPE_CHECKING:
    from ..config import RuntimeConfig

__all__ = ["ReloadReport", "StyleCatalog", "load_styles"]

log = logging.getLogger(__name__)


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
    """The styles of one folder; readers see either the old set or the new one, never a mix.

    Parameters
    ----------
    directory:
        The styles folder; previews and local LoRAs must lie inside it (LoRAs also in ``model_cache``).
    base_models:
        The configured base model names a style may use; None accepts any name.
    model_cache:
        ``runtime.cache_dir``: local LoRA files may also be taken from there.
    max_file_bytes:
        ``runtime.max_style_bytes``: larger style files are refused unread.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        base_models: Collection[str] | None = None,
        model_cache: Path | str | None = None,
        max_file_bytes: int = DEFAULT_MAX_STYLE_BYTES,
    ) -> None:
        self.directory = Path(directory)
        roots = (self.directory,) if model_cache is None else (self.directory, Path(model_cache))
        self._rules = StyleRules(
            self.directory, frozenset(base_models) if base_models is not None else None, roots, max_file_bytes
        )
        self._snapshot = _Snapshot(styles=MappingProxyType({}), version=0)
        # Reloads are serialised so each diff is taken against the set it replaces.
        self._reload_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> StyleCatalog:
        """The catalogue of ``config.styles_dir`` under the config's base models, model cache and size cap."""
        return cls(
            config.styles_dir,
            base_models=config.models.base_models if config.models is not None else None,
            model_cache=config.cache_dir,
            max_file_bytes=config.max_style_bytes,
        )

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
            loaded = read_folder(self._rules)
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


def load_styles(
    directory: Path | str,
    *,
    base_models: Collection[str] | None = None,
    model_cache: Path | str | None = None,
    max_file_bytes: int = DEFAULT_MAX_STYLE_BYTES,
) -> StyleCatalog:
    """Build a catalogue for ``directory`` (see ``StyleCatalog``) and load it.

    Raises
    ------
    StyleError
        A style file is invalid (see ``StyleCatalog.reload``).
    """
    catalog = StyleCatalog(directory, base_models=base_models, model_cache=model_cache, max_file_bytes=max_file_bytes)
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
