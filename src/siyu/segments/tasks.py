"""Segment jobs: run a release rule, refresh a rule tag. Importing this module also registers
the pool hooks (tags from codes, courier binding, release bookkeeping)."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.jobs import job
from siyu.segments import hooks, releases, tags

logger = logging.getLogger("siyu.segments")
hooks.install()


@job("segments.run_release_rule")
def run_release_rule(rule_id: int) -> None:
    """Idempotent: contacts with a pending release are skipped by the next run."""
    with unit_of_work() as session:
        run = releases.run_rule(session, None, rule_id)
    logger.info("release rule %d: %d released", rule_id, run.requested)


@job("segments.refresh_rule_tag")
def refresh_rule_tag(tag_id: int) -> None:
    with unit_of_work() as session:
        tags.refresh_rule_tag(session, tag_id)
