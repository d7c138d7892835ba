"""Rate limits (moving window) for logins, sign-ups and public code scans, in memory or in
Redis when several processes serve."""

from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from siyu.config import current_settings
from siyu.errors import RateLimited

_limiters: dict[str, MovingWindowRateLimiter] = {}


def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    if storage_uri not in _limiters:
        _limiters[storage_uri] = MovingWindowRateLimiter(storage_from_string(storage_uri))
    return _limiters[storage_uri]


def check_login_allowed(username: str, client: str) -> None:
    """Count one attempt for this username and for this client; refuse past the limit."""
    settings = current_settings()
    limit = parse(settings.login_rate_limit)
    limiter = _limiter(settings.login_rate_limit_storage)
    keys = (f"user:{username.strip().lower()}", f"client:{client}")
    # Check both before counting either so one refusal does not burn the other's budget.
    if not all(limiter.test(limit, "login", key) for key in keys):
        raise RateLimited()
    for key in keys:
        limiter.hit(limit, "login", key)


def check_signup_allowed(client: str) -> None:
    """Public sign-ups from one client are limited like logins, on their own budget."""
    settings = current_settings()
    limit = parse(settings.signup_rate_limit)
    limiter = _limiter(settings.login_rate_limit_storage)
    if not limiter.hit(limit, "signup", f"client:{client}"):
        raise RateLimited()


def check_scan_allowed(client: str) -> None:
    """Public code scans and group joins from one client, on their own budget."""
    settings = current_settings()
    limit = parse(settings.scan_rate_limit)
    limiter = _limiter(settings.login_rate_limit_storage)
    if not limiter.hit(limit, "scan", f"client:{client}"):
        raise RateLimited()


def reset() -> None:
    for limiter in _limiters.values():
        limiter.storage.reset()
