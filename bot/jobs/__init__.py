"""Jobs on the Discord side: the service admits and submits, the tracker follows, the courier posts.

Dependencies point one way: cogs and views -> service -> tracker -> courier. ``request`` turns a
stored job into the runtime's request; ``files`` fits images to upload limits for the courier.
"""

from __future__ import annotations

from .alerts import AdminAlerts
from .courier import Courier, Delivery, StatusEdit
from .forget import Forgotten
from .origin import Origin
from .request import build_request, new_job_id, new_seed
from .service import JobService
from .speeds import choose_speed, offered_speeds, speed_choices
from .tracker import JobTracker
from .views import (
    JobActions,
    JobButton,
    JobButtonServices,
    job_services,
    parse_custom_id,
    result_view,
    retry_view,
    status_view,
)

__all__ = [
    "AdminAlerts",
    "Courier",
    "Delivery",
    "Forgotten",
    "JobActions",
    "JobButton",
    "JobButtonServices",
    "JobService",
    "JobTracker",
    "Origin",
    "StatusEdit",
    "build_request",
    "choose_speed",
    "job_services",
    "new_job_id",
    "new_seed",
    "offered_speeds",
    "parse_custom_id",
    "result_view",
    "retry_view",
    "speed_choices",
    "status_view",
]
