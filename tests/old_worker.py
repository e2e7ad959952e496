"""``python -m tests.old_worker worker ...``: a worker not yet upgraded, speaking the previous message schema."""

from __future__ import annotations

import functools
import sys

from fact_runtime.__main__ import main
from fact_runtime.commands import worker
from fact_runtime.executor.redis import WorkerOptions
from fact_runtime.executor.redis.codec import SCHEMA_VERSION

OLD_SCHEMA = SCHEMA_VERSION - 1

if __name__ == "__main__":
    worker.WorkerOptions = functools.partial(WorkerOptions, schema=OLD_SCHEMA)  # type: ignore[misc]
    sys.exit(main())
