"""The one settings class. Nothing else in siyu reads the environment."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BindingMode = Literal["first_bind_wins", "new_users_only", "override"]
JobsBackend = Literal["embedded", "redis", "postgresql", "memory"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIYU_", env_file=None, extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"

    # Secrets: when unset they are generated once and kept in data_dir (never in the repo).
    secret_key: str | None = None
    encryption_key: str | None = None

    jobs_backend: JobsBackend = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    jobs_workers: int = Field(default=2, ge=1, le=64)

    # Business policy defaults (product.md §3).
    platform_take_bp: int = Field(default=1000, ge=0, le=10000)
    binding_mode: BindingMode = "first_bind_wins"
    # Orders (docs/orders-webhook.md): the webhook is refused (401) while no secret is set.
    order_webhook_secret: str | None = None
    auto_confirm_days: int = Field(default=10, ge=1, le=90)
    # Commissions and withdrawals (product.md §3, issue 3).
    l2_share_bp: int = Field(default=1000, ge=0, le=10000)
    self_purchase_commission: bool = False
    hold_days: Literal[0, 7, 14, 30, 60, 90] = 7
    withdrawal_minimum_fen: int = Field(default=1000, ge=1000, le=10**11)

    # Tracked links (docs/links.md): short-link lifetime, redirect cache, click write-behind.
    link_expiry_days: int = Field(default=60, ge=1, le=3650)
    link_cache_size: int = Field(default=100_000, ge=0, le=10_000_000)
    link_cache_ttl_seconds: float = Field(default=60.0, ge=0, le=86_400)
    click_flush_interval_ms: int = Field(default=200, ge=5, le=60_000)
    click_flush_batch_size: int = Field(default=1000, ge=1, le=100_000)
    click_buffer_max_pending: int = Field(default=200_000, ge=1, le=10_000_000)

    # Regions (docs/regions.md): a TSV of city tier corrections over the shipped table.
    city_tiers_path: Path | None = None
    # Posters (docs/posters.md): a CJK font file (.ttc/.otf/.ttf); unset = fc-match / known paths.
    poster_font_path: Path | None = None
    # Traffic pool and channels (docs/pool.md). "" = each account's backend by its kind.
    channel_backend: Literal["", "simulator", "assisted", "wecom"] = ""
    simulator_seed: int = 0
    simulator_accept_bp: int = Field(default=9000, ge=0, le=10000)
    pending_contact_hours: int = Field(default=48, ge=1, le=24 * 30)
    routing_snapshot_seconds: float = Field(default=1.0, ge=0, le=60)

    # Outreach (docs/outreach.md). Quiet hours are Asia/Shanghai minutes of the day (from ==
    # until = none); quotas count marketing messages per person; opt-out keywords are comma
    # separated and compared case-insensitively with the whole incoming message.
    broadcast_quiet_from_minute: int = Field(default=22 * 60, ge=0, le=1440)
    broadcast_quiet_until_minute: int = Field(default=8 * 60, ge=0, le=1440)
    broadcast_quota_preset: Literal["month_days", "week_7", "day_1"] = "month_days"
    broadcast_member_per_day: int = Field(default=1, ge=1, le=50)
    broadcast_requires_consent: bool = False
    opt_out_keywords: str = "退订,TD"

    login_rate_limit: str = "10/minute"
    signup_rate_limit: str = "20/hour"
    # Public scans of channel/group codes per client IP: generous, since mobile carriers put many
    # people behind one address (CGNAT); it stops scripted floods, not people.
    scan_rate_limit: str = "300/minute"
    # memory:// is per process; use redis://… when several processes serve the console.
    login_rate_limit_storage: str = "memory://"
    session_max_age_seconds: int = 7 * 24 * 3600
    upload_max_bytes: int = 5 * 1024 * 1024

    # Moments (朋友圈): what an account likes / comments on its contacts' moments per day (seed
    # 002's habit, within a person's plausible day), and how long a contact rests after one.
    moment_likes_per_day: int = Field(default=30, ge=0, le=500)
    moment_comments_per_day: int = Field(default=10, ge=0, le=200)
    moment_interaction_rest_days: int = Field(default=3, ge=0, le=60)
    # The simulator's audience: share of an account's contacts liking / commenting on a post.
    simulator_moment_like_bp: int = Field(default=800, ge=0, le=10_000)
    simulator_moment_comment_bp: int = Field(default=150, ge=0, le=10_000)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'siyu.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def _persistent_secret(self, name: str, factory: type[object] | None = None) -> str:
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = Fernet.generate_key().decode() if factory is Fernet else secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value

    @property
    def resolved_secret_key(self) -> str:
        return self.secret_key or self._persistent_secret("secret.key")

    @property
    def resolved_encryption_key(self) -> str:
        return self.encryption_key or self._persistent_secret("encryption.key", Fernet)

    @property
    def upload_dir(self) -> Path:
        path = self.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path


_current: list[Settings] = []


def current_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    if not _current:
        _current.append(Settings())
    return _current[0]


def configure(settings: Settings) -> Settings:
    """Replace the process-wide settings (the CLI's options, tests)."""
    _current.clear()
    _current.append(settings)
    return settings
