"""Wiring: importing this module registers the campaign handlers with the pool's and orders'
hooks and the campaign steps with the flow action registry (idempotent)."""

from __future__ import annotations

from siyu.campaigns import (
    actions,  # noqa: F401  (registers the flow actions)
    service,
)
from siyu.orders import hooks as order_hooks
from siyu.pool import hooks as pool_hooks


def install() -> None:
    pool_hooks.register_contact_confirmed(service.on_contact_confirmed)
    pool_hooks.register_contact_removed(service.on_contact_removed)
    pool_hooks.register_group_left(service.on_group_left)
    pool_hooks.register_group_joined(service.on_group_joined)
    order_hooks.register_order_paid(service.on_order_paid)


install()
