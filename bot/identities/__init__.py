"""Saved identities on the Discord side: consent, saving through the runtime, use by jobs, deletion.

Dependencies point one way: the /identity cog and the buttons -> saver (consent, saving) and
service (lookups, rename, delete) -> job service and store.
"""

from __future__ import annotations

from .saving import CONSENT_TTL_S, IdentitySaver, check_name
from .service import IdentityService
from .views import IdentityButton, IdentityButtonServices, consent_view, identity_services, saved_view

__all__ = [
    "CONSENT_TTL_S",
    "IdentityButton",
    "IdentityButtonServices",
    "IdentitySaver",
    "IdentityService",
    "check_name",
    "consent_view",
    "identity_services",
    "saved_view",
]
