"""Saved identities on the Discord side: consent, saving through the runtime, use by jobs, deletion.

Dependencies point one way: the /identity cog and the buttons -> service -> job service and store.
"""

from __future__ import annotations

from .service import CONSENT_TTL_S, IdentityService, check_name
from .views import IdentityButton, consent_view, saved_view

__all__ = ["CONSENT_TTL_S", "IdentityButton", "IdentityService", "check_name", "consent_view", "saved_view"]
