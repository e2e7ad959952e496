"""``python -m fact_runtime download``: fetch every model that config.yaml and the styles name.

The hub is asked once whether it answers before anything else; then the size of everything
missing is shown and one bar runs over all of it; the end is a summary: fetched, already cached,
failed and why. Exit status: 0 all present; 1 some failed; 2 nothing could start (config, styles,
hub unreachable).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from ..catalog import StyleCatalog
from ..config import ModelRef, load_runtime_config
from ..errors import ConfigError, ModelMissing, StyleError
from ..loading.hub import HubUnreachable, hub_endpoint, list_files
from ..loading.registry import ModelRegistry, describe_ref, patterns_for, refs_to_download
from .terminal import FAILED, OK, add_config_argument, config_path, fail

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Outcome:
    what: str
    ref: ModelRef
    size: int = 0
    reason: str = ""


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="list the models and whether each is cached; fetch nothing"
    )


def human_size(count: float) -> str:
    """``1.5 GB``, ``320 MB``, ``12 KB`` (powers of 1024, as the bar counts)."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit in ("B", "KB") else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _reason(exc: BaseException) -> str:
    """The short cause of a failure, for the summary: the first line of the error behind it."""
    behind = exc.__cause__ or exc
    if isinstance(behind, ModelMissing):
        return str(behind).split(". ")[0][:240]
    first = (str(behind).strip().splitlines() or [""])[0]
    return f"{type(behind).__name__}: {first}"[:240]


def run(args: argparse.Namespace) -> int:
    try:
        path = config_path(args)
        config = load_runtime_config(path)
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
    except (ConfigError, StyleError) as exc:
        return fail("; ".join(str(exc).splitlines()))
    registry = ModelRegistry(config.cache_dir)
    refs = refs_to_download(config, catalog)
    if args.dry_run:
        print(f"{len(refs)} models named by {path} and {len(catalog)} styles; cache: {config.cache_dir}")
        for what, ref in refs:
            state = "cached " if registry.is_cached(ref) else "missing"
            print(f"  [{state}] {what}: {describe_ref(ref)}\n            -> {registry.expected_path(ref)}")
        return OK
    cached = [_Outcome(what, ref) for what, ref in refs if registry.is_cached(ref)]
    failed = [
        _Outcome(what, ref, reason=f"local path {ref.path} does not exist")
        for what, ref in refs
        if ref.path is not None and not registry.is_cached(ref)
    ]
    wanted = [(what, ref) for what, ref in refs if ref.path is None and not registry.is_cached(ref)]
    fetched: list[_Outcome] = []
    if wanted:
        try:
            registry.check_hub()
        except HubUnreachable as exc:
            return fail(
                f"{exc}; {len(wanted)} of {len(refs)} models need it ({len(cached)} cached). Check the network or "
                f"proxy (MODELSCOPE_ENDPOINT chooses the hub), or copy a filled cache into {config.cache_dir}"
            )
        planned, refused = _plan(wanted)
        failed += refused
        fetched, not_fetched = _fetch(registry, planned, cache_dir=str(config.cache_dir))
        failed += not_fetched
    position = {ref: index for index, (_, ref) in enumerate(refs)}
    failed.sort(key=lambda item: position[item.ref])  # in the order the config and styles name them
    _summarise(fetched, cached, failed, total=len(refs))
    return FAILED if failed else OK


def _plan(wanted: list[tuple[str, ModelRef]]) -> tuple[list[_Outcome], list[_Outcome]]:
    """Each missing model with the bytes it will fetch, or why the hub will not serve it."""
    planned, refused = [], []
    for what, ref in wanted:
        assert ref.model_id is not None and ref.revision is not None  # not a local path
        try:
            files = list_files(ref.model_id, ref.revision, patterns_for(ref))
        except Exception as exc:
            log.debug("listing %s failed", describe_ref(ref), exc_info=True)
            refused.append(_Outcome(what, ref, reason=f"the hub has no {describe_ref(ref)} ({_reason(exc)})"))
            continue
        if not files:
            refused.append(_Outcome(what, ref, reason=f"{describe_ref(ref)}: no such file or folder at that revision"))
            continue
        planned.append(_Outcome(what, ref, size=sum(item.size for item in files)))
    return planned, refused


def _fetch(
    registry: ModelRegistry, planned: list[_Outcome], *, cache_dir: str
) -> tuple[list[_Outcome], list[_Outcome]]:
    from tqdm import tqdm

    if not planned:
        return [], []
    total = sum(item.size for item in planned)
    print(
        f"fetching {len(planned)} model{'s' * (len(planned) != 1)} ({human_size(total)}) "
        f"from {hub_endpoint()} into {cache_dir}",
        flush=True,
    )
    fetched, failed = [], []
    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="download", file=sys.stderr, dynamic_ncols=True
    ) as bar:
        for item in planned:
            bar.set_postfix_str(item.what[:40], refresh=True)
            try:
                registry.resolve(item.ref, what=item.what, on_bytes=bar.update)
            except ModelMissing as exc:
                log.debug("%s", exc, exc_info=True)
                failed.append(_Outcome(item.what, item.ref, reason=_reason(exc)))
                continue
            fetched.append(item)
    return fetched, failed


def _summarise(fetched: list[_Outcome], cached: list[_Outcome], failed: list[_Outcome], *, total: int) -> None:
    size = human_size(sum(item.size for item in fetched))
    print(f"fetched {len(fetched)} ({size}), already cached {len(cached)}, failed {len(failed)}, of {total} models")
    for item in failed:
        print(f"  failed: {item.what}: {item.reason}")
