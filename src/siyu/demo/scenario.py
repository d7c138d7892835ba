"""Placeholder demo loader: only the platform admin. The full scenario replaces this file.

``load_demo`` runs inside the caller's unit of work, never commits, and is safe to run again.
"""

from __future__ import annotations

import contextlib

from sqlalchemy.orm import Session

from siyu.auth.schemas import UserCreate
from siyu.auth.service import UsernameTaken, create_user
from siyu.models import ROLE_LABELS, Role

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "siyu-demo"


def load_demo(session: Session) -> list[tuple[str, str, str]]:
    """Create the demo data; returns the logins as (role label, username, password)."""
    # Loaded before: keep the existing admin.
    with contextlib.suppress(UsernameTaken):
        create_user(
            session,
            None,
            UserCreate(
                username=ADMIN_USERNAME,
                display_name="平台管理员",
                password=ADMIN_PASSWORD,
                role=Role.ADMIN,
            ),
        )
    return [(ROLE_LABELS[Role.ADMIN], ADMIN_USERNAME, ADMIN_PASSWORD)]
