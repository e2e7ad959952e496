"""Group photos on the Discord side: the /group request checked, each member's consent, then one job.

Dependencies point one way: the /group cog and the buttons -> consent -> job service and store.
"""

from __future__ import annotations

from .consent import CONSENT_TTL_S, GroupConsent
from .plan import GroupPlan, Seat, plan_seats, shown_name
from .reach import RequestMessages
from .views import GroupButtonServices, GroupConsentButton, question_view

__all__ = [
    "CONSENT_TTL_S",
    "GroupButtonServices",
    "GroupConsent",
    "GroupConsentButton",
    "GroupPlan",
    "RequestMessages",
    "Seat",
    "plan_seats",
    "question_view",
    "shown_name",
]
