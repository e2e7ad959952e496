"""The executor: ``Runtime.submit(request) -> JobHandle`` over a fair bounded queue. Torch-free.

The local backend runs the engine on one worker thread in this process.
"""

from __future__ import annotations

from .handle import JobHandle, Update
from .runtime import Runtime

__all__ = ["JobHandle", "Runtime", "Update"]
