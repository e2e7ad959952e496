"""``python -m fact_runtime verify IMAGE...``: whether each image carries the watermark, the XMP and valid C2PA.

Exit status: 0 when every image carries all three; 1 when any mark is missing or broken (one
line per problem on stderr); 2 when a file cannot be read at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .terminal import FAILED, OK, REFUSED, fail


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("images", type=Path, nargs="+", help="PNG, JPEG or WebP images")
    parser.add_argument(
        "--trust",
        type=Path,
        help="PEM file of CA certificates whose signers count as trusted (e.g. the operator's CA)",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..provenance.verify import verify_image
    from ..provenance.watermark import require_watermarker

    try:
        require_watermarker()
        anchors = args.trust.read_bytes() if args.trust else None
    except ConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot read {args.trust} ({exc.strerror}); give a PEM file of CA certificates")
    status = OK
    for path in args.images:
        try:
            verdict = verify_image(path.read_bytes(), trust_anchors_pem=anchors)
        except OSError as exc:
            print(f"{path}: cannot read it ({exc.strerror})", file=sys.stderr)
            status = REFUSED
            continue
        except ValueError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = REFUSED
            continue
        for problem in verdict.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        if verdict.problems:
            status = max(status, FAILED)
            continue
        manifest = verdict.manifest
        trust = "trusted" if manifest.is_trusted else "signer not on a trust list"
        print(
            f"{path}: AI-generated: watermark ({verdict.watermark_bits}/48 bits), XMP trainedAlgorithmicMedia, "
            f"C2PA valid, signed by {manifest.signer} with {manifest.generator} ({trust})"
        )
    return status
