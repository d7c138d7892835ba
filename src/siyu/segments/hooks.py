"""Registers this package's handlers with the pool (imported by the app, the worker and the
demo loader through ``siyu.segments.tasks``). Idempotent: the pool ignores a repeat."""

from __future__ import annotations

from siyu.pool import hooks
from siyu.segments import couriers, releases, tags


def install() -> None:
    hooks.register_contact_confirmed(tags.on_contact_confirmed)
    hooks.register_contact_confirmed(couriers.on_contact_confirmed)
    hooks.register_contact_removed(releases.on_contact_removed)


install()
