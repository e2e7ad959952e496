"""Print the project's dependencies from pyproject.toml, one per line, for the image's dependency layer.

torch is left out: the image installs its CUDA build first, from PyTorch's index. Run with any
Python 3.11+: ``python docker/requirements.py pyproject.toml > requirements.txt``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return [dep for dep in project["dependencies"] if re.split(r"[<>=!~ \[;]", dep, maxsplit=1)[0] != "torch"]


if __name__ == "__main__":
    print("\n".join(requirements(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
