"""Model registry: the one place that turns a ``ModelRef`` into a local path, downloading once if needed."""

from __future__ import annotations

import glob
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ModelRef, RuntimeConfig
from ..errors import ModelMissing
from .hub import HubUnreachable, check_reachable, snapshot

if TYPE_CHECKING:
    from ..catalog import StyleCatalog

__all__ = [
    "Downloader",
    "ModelRegistry",
    "describe_ref",
    "missing_models",
    "patterns_for",
    "refs_to_download",
    "resident_refs",
]

log = logging.getLogger(__name__)

#: ``downloader(model_id, *, revision, cache_dir, allow_patterns) -> snapshot root``.
Downloader = Callable[..., str]


class ModelRegistry:
    """Resolves model references against a download cache laid out the way ModelScope lays it out.

    Parameters
    ----------
    cache_dir:
        The ModelScope cache folder (``runtime.cache_dir``).
    is_offline:
        Never reach the hub; a model that is not cached raises ``ModelMissing``.
    downloader:
        Replaces ``modelscope.snapshot_download`` (tests, mirrors). It must leave the files
        where ModelScope would and return the snapshot root.
    """

    def __init__(
        self, cache_dir: Path | str, *, is_offline: bool = False, downloader: Downloader | None = None
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.is_offline = is_offline
        self._downloader = downloader
        #: Set once the hub has answered; until then every download first checks that it does.
        self._is_hub_reached = False
        # One download at a time: two jobs asking for the same LoRA must not fetch it twice.
        self._lock = threading.Lock()

    def expected_path(self, ref: ModelRef) -> Path:
        """Where ``resolve`` will find this model once it is available (no checks, no network)."""
        if ref.path is not None:
            return ref.path.expanduser().absolute()
        return _target(self._snapshot_root(ref), ref)

    def is_cached(self, ref: ModelRef) -> bool:
        """Whether the model is on disk already; never touches the network."""
        return _is_complete(self.expected_path(ref))

    def resolve(self, ref: ModelRef, *, what: str, on_bytes: Callable[[int], object] | None = None) -> Path:
        """The local file or folder of a model, downloading it first if it is not cached.

        Parameters
        ----------
        ref:
            A local ``path``, or a ModelScope ``model_id`` + ``revision`` with an optional
            ``file`` or ``subfolder`` inside the snapshot.
        what:
            What the model is for, as an admin reads it ("base model majicmix").
        on_bytes:
            Hears every downloaded chunk's size instead of the SDK drawing its own bars.

        Raises
        ------
        ModelMissing
            The local path does not exist, or the model is not cached and cannot be fetched
            (offline, hub unreachable, or the file is not in the snapshot). The message names
            the model, the reference, the expected path and how to fix it.
        """
        target = self.expected_path(ref)
        if ref.path is not None:
            if not target.exists():
                raise ModelMissing.named(
                    what, f"{what}: local path {target} does not exist. Fix `path:` in config.yaml."
                )
            return target
        if _is_complete(target):
            return target
        if self.is_offline:
            raise _missing(what, ref, target, "it is not in the cache and the registry is offline")
        with self._lock:
            if _is_complete(self.expected_path(ref)):
                return self.expected_path(ref)
            log.info("downloading %s: %s into %s", what, describe_ref(ref), self.cache_dir)
            model_id, revision = _hub_id(ref)
            try:
                root = Path(self._fetch(model_id, revision, _patterns(ref), on_bytes))
            except HubUnreachable as exc:
                raise ModelMissing.named(
                    what, f"{what}: {describe_ref(ref)} is missing and {exc}. {_UNREACHABLE_FIX}"
                ) from exc
            except Exception as exc:  # any hub or network failure becomes one typed, actionable error
                raise _missing(what, ref, target, f"the download failed ({type(exc).__name__}: {exc})") from exc
        target = _target(root, ref)
        if not _is_complete(target):
            raise _missing(what, ref, target, "the downloaded snapshot does not contain it")
        return target

    def check_hub(self) -> None:
        """Make sure the hub answers (once per registry); an injected downloader needs no hub.

        Raises
        ------
        HubUnreachable
            The hub did not answer within seconds.
        """
        if self._downloader is None and not self._is_hub_reached:
            check_reachable()
            self._is_hub_reached = True

    def _fetch(
        self, model_id: str, revision: str, patterns: list[str] | None, on_bytes: Callable[[int], object] | None
    ) -> str:
        if self._downloader is not None:
            return self._downloader(model_id, revision=revision, cache_dir=str(self.cache_dir), allow_patterns=patterns)
        self.check_hub()
        return snapshot(
            model_id, revision=revision, cache_dir=str(self.cache_dir), allow_patterns=patterns, on_bytes=on_bytes
        )

    def _snapshot_root(self, ref: ModelRef) -> Path:
        model_id, revision = _hub_id(ref)
        owner, _, name = model_id.partition("/")
        legacy_name = name.replace(".", "___")
        # ModelScope reuses a non-empty cache left by SDKs before 1.38 ({owner}/{name with . as ___})
        # in preference to its current layout, so look where it would write.
        for models in (self.cache_dir / "models", self.cache_dir / "hub" / "models"):
            legacy = models / owner / legacy_name
            if legacy.is_dir() and any(legacy.iterdir()):
                return legacy
        return self.cache_dir / "models" / f"{owner}--{name}" / "snapshots" / revision


def describe_ref(ref: ModelRef) -> str:
    """``model_id@revision file`` or the local path, for messages."""
    if ref.path is not None:
        return f"local path {ref.path}"
    inside = f" file '{ref.file}'" if ref.file else f" folder '{ref.subfolder}'" if ref.subfolder else ""
    return f"ModelScope {ref.model_id}@{ref.revision}{inside}"


def refs_to_download(config: RuntimeConfig, catalog: StyleCatalog) -> list[tuple[str, ModelRef]]:
    """Every model the config and the styles name, once each, labelled with what uses it."""
    labels: dict[ModelRef, list[str]] = {}

    def add(label: str, ref: ModelRef | None) -> None:
        if ref is not None:
            labels.setdefault(ref, []).append(label)

    if config.models is not None:
        for name, base in config.models.base_models.items():
            add(f"base model {name}", base.diffusers)
            add(f"FACT adapter for {name}", base.adapter)
        add("TransFace-S", config.models.transface)
        add("ControlNet openpose", config.models.controlnet_openpose)
        add("ControlNet canny", config.models.controlnet_canny)
        add("OpenPose annotator", config.models.openpose_annotator)
        add("default LoRA", config.models.default_lora)
        add("safety checker", config.models.safety_checker)
        add("preview decoder", config.models.preview_decoder)
        if "turbo" in config.speed.allowed:
            add("turbo LoRA (speed turbo)", config.speed.turbo.lora)
    style_ids: dict[ModelRef, list[str]] = {}
    for style in catalog.all():
        # Styles on the default LoRA share the file named once above.
        if style.lora is not None and not style.lora.is_default:
            style_ids.setdefault(style.lora.to_model_ref(), []).append(style.id)
    for ref, ids in style_ids.items():
        add(f"LoRA of style{'s' if len(ids) > 1 else ''} {', '.join(ids)}", ref)
    return [("; ".join(names), ref) for ref, names in labels.items()]


def resident_refs(config: RuntimeConfig) -> list[tuple[str, ModelRef]]:
    """The models a start loads before the first job: every base with its adapter, TransFace-S, the safety checker."""
    models = config.models
    if config.preset == "tiny" or models is None:
        return []
    refs: list[tuple[str, ModelRef]] = []
    for name, base in models.base_models.items():
        refs += [(f"base model {name}", base.diffusers), (f"FACT adapter for {name}", base.adapter)]
    refs.append(("TransFace-S face model", models.transface))
    if models.safety_checker is not None and config.generation.is_safety_check_enabled:
        refs.append(("safety checker", models.safety_checker))
    return refs


def missing_models(config: RuntimeConfig) -> list[str]:
    """The models a start needs that are neither cached nor on a local path, described; never touches the network."""
    registry = ModelRegistry(config.cache_dir, is_offline=True)
    return [f"{what} ({describe_ref(ref)})" for what, ref in resident_refs(config) if not registry.is_cached(ref)]


def _hub_id(ref: ModelRef) -> tuple[str, str]:
    """(model_id, revision) of a hub reference; ModelRef's validation guarantees both for non-path refs."""
    if ref.model_id is None or ref.revision is None:
        raise ValueError(f"{ref} names no ModelScope model")
    return ref.model_id, ref.revision


def _target(root: Path, ref: ModelRef) -> Path:
    if ref.file:
        return root / ref.file
    if ref.subfolder:
        return root / ref.subfolder
    return root


def _is_complete(path: Path) -> bool:
    # ModelScope writes each file as "<name>.incomplete" and renames it when every byte arrived.
    if path.is_file():
        return True
    if not path.is_dir():
        return False
    has_files = False
    for item in path.rglob("*"):
        if item.name.endswith(".incomplete"):
            return False
        has_files = has_files or item.is_file()
    return has_files


def _patterns(ref: ModelRef) -> list[str] | None:
    if ref.file:
        return [glob.escape(ref.file)]
    if ref.subfolder:
        return [f"{glob.escape(ref.subfolder.strip('/'))}/*"]
    return None


def patterns_for(ref: ModelRef) -> list[str] | None:
    """The ``allow_patterns`` that fetch exactly this reference's file or folder (None: the whole snapshot)."""
    return _patterns(ref)


_UNREACHABLE_FIX = (
    "Check the network or proxy (the hub is chosen by MODELSCOPE_ENDPOINT), or fill the cache on a machine that "
    "can reach it with `python -m fact_runtime download` and copy the cache folder here."
)


def _missing(what: str, ref: ModelRef, target: Path, reason: str) -> ModelMissing:
    return ModelMissing.named(
        what,
        f"{what}: {describe_ref(ref)} is missing: {reason}. Expected at {target}. "
        "Run `python -m fact_runtime download` on a machine that can reach ModelScope (and copy the cache "
        "folder here if this one cannot), or set `path:` to a local copy.",
    )
