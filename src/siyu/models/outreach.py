"""Outreach: broadcasts (群发), per-account send batches, the send queue, per-contact quotas,
moments columns and follow-up rules. See docs/outreach.md."""

from __future__ import annotations
