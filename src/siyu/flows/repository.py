"""Queries of scripts, flows and conversations (the only place they are built)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.models import ChannelMessage
from siyu.models.flows import (
    OPEN_CONVERSATION_STATUSES,
    Conversation,
    ConversationStatus,
    ConversationTurn,
    Flow,
    FlowVersion,
    Script,
    ScriptVersion,
)


class ScriptRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, script: Script) -> Script:
        self.session.add(script)
        self.session.flush()
        return script

    def add_version(self, version: ScriptVersion) -> ScriptVersion:
        self.session.add(version)
        self.session.flush()
        return version

    def get(self, script_id: int) -> Script | None:
        return self.session.get(Script, script_id)

    def get_for_update(self, script_id: int) -> Script | None:
        return self.session.scalar(
            select(Script)
            .where(Script.id == script_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def version(self, script_id: int, version: int) -> ScriptVersion | None:
        return self.session.scalar(
            select(ScriptVersion).where(
                ScriptVersion.script_id == script_id, ScriptVersion.version == version
            )
        )

    def versions(self, script_id: int) -> Sequence[ScriptVersion]:
        return self.session.scalars(
            select(ScriptVersion)
            .where(ScriptVersion.script_id == script_id)
            .order_by(ScriptVersion.version.desc())
        ).all()

    def current_versions(self, script_ids: Sequence[int]) -> dict[int, ScriptVersion]:
        if not script_ids:
            return {}
        rows = self.session.execute(
            select(ScriptVersion)
            .join(Script, Script.id == ScriptVersion.script_id)
            .where(Script.id.in_(script_ids), ScriptVersion.version == Script.current_version)
        ).scalars()
        return {row.script_id: row for row in rows}

    def listing(self, category: str | None, include_archived: bool = False) -> Sequence[Script]:
        statement = select(Script)
        if category:
            statement = statement.where(Script.category == category)
        if not include_archived:
            statement = statement.where(Script.archived_at.is_(None))
        return self.session.scalars(statement.order_by(Script.category, Script.name)).all()

    def categories(self) -> list[str]:
        return list(
            self.session.scalars(
                select(Script.category)
                .where(Script.archived_at.is_(None))
                .distinct()
                .order_by(Script.category)
            )
        )

    def by_template(self, template_key: str) -> Sequence[Script]:
        return self.session.scalars(
            select(Script).where(Script.template_key == template_key).order_by(Script.id)
        ).all()


class FlowRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, flow: Flow) -> Flow:
        self.session.add(flow)
        self.session.flush()
        return flow

    def get(self, flow_id: int) -> Flow | None:
        return self.session.get(Flow, flow_id)

    def get_for_update(self, flow_id: int) -> Flow | None:
        return self.session.scalar(
            select(Flow)
            .where(Flow.id == flow_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def listing(self) -> Sequence[Flow]:
        return self.session.scalars(select(Flow).order_by(Flow.id.desc())).all()

    def add_version(self, version: FlowVersion) -> FlowVersion:
        self.session.add(version)
        self.session.flush()
        return version

    def version(self, version_id: int) -> FlowVersion | None:
        return self.session.get(FlowVersion, version_id)

    def versions(self, flow_id: int) -> Sequence[FlowVersion]:
        return self.session.scalars(
            select(FlowVersion)
            .where(FlowVersion.flow_id == flow_id)
            .order_by(FlowVersion.version.desc())
        ).all()

    def conversation_counts(self, flow_ids: Sequence[int]) -> dict[tuple[int, str], int]:
        if not flow_ids:
            return {}
        rows = self.session.execute(
            select(Conversation.flow_id, Conversation.status, func.count())
            .where(Conversation.flow_id.in_(flow_ids))
            .group_by(Conversation.flow_id, Conversation.status)
        ).all()
        return {(flow_id, str(status)): int(count) for flow_id, status, count in rows}


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, conversation: Conversation) -> Conversation:
        self.session.add(conversation)
        self.session.flush()
        return conversation

    def get(self, conversation_id: int) -> Conversation | None:
        return self.session.get(Conversation, conversation_id)

    def get_for_update(self, conversation_id: int) -> Conversation | None:
        return self.session.scalar(
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def by_open_key(self, open_key: str) -> Conversation | None:
        return self.session.scalar(select(Conversation).where(Conversation.open_key == open_key))

    def open_for_contact_for_update(self, contact_id: int) -> Sequence[Conversation]:
        """The contact's open conversations, locked, newest first (the one a reply drives).
        Locked in id order, like the batch path, so the two never lock in opposite orders."""
        rows = self.session.scalars(
            select(Conversation)
            .where(
                Conversation.contact_id == contact_id,
                Conversation.status.in_(OPEN_CONVERSATION_STATUSES),
            )
            .order_by(Conversation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        return list(reversed(rows))

    def due_ids(self, now: datetime, limit: int) -> list[int]:
        return list(
            self.session.scalars(
                select(Conversation.id)
                .where(
                    Conversation.due_at <= now,
                    Conversation.status == ConversationStatus.WAITING,
                )
                .order_by(Conversation.due_at, Conversation.id)
                .limit(limit)
            )
        )

    def event_taken(self, conversation_id: int, event_id: int) -> bool:
        return (
            self.session.scalar(
                select(ConversationTurn.id)
                .where(
                    ConversationTurn.conversation_id == conversation_id,
                    ConversationTurn.event_id == event_id,
                )
                .limit(1)
            )
            is not None
        )

    def open_for_contacts_for_update(self, contact_ids: Sequence[int]) -> Sequence[Conversation]:
        """Every open conversation of these contacts, locked in id order (one statement)."""
        if not contact_ids:
            return []
        return self.session.scalars(
            select(Conversation)
            .where(
                Conversation.contact_id.in_(contact_ids),
                Conversation.status.in_(OPEN_CONVERSATION_STATUSES),
            )
            .order_by(Conversation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()

    def taken_events(
        self, conversation_ids: Sequence[int], event_ids: Sequence[int]
    ) -> set[tuple[int, int]]:
        """(conversation id, event id) pairs already taken, among these (the unique index on
        (conversation_id, event_id) serves it)."""
        if not conversation_ids or not event_ids:
            return set()
        rows = self.session.execute(
            select(ConversationTurn.conversation_id, ConversationTurn.event_id).where(
                ConversationTurn.conversation_id.in_(conversation_ids),
                ConversationTurn.event_id.in_(event_ids),
            )
        ).all()
        return {
            (int(conversation_id), int(event_id))
            for conversation_id, event_id in rows
            if event_id is not None
        }

    def add_turns(self, rows: Sequence[dict[str, Any]]) -> None:
        """One multi-row INSERT on the session's connection (turns are never read back as
        objects in the same run, so the ORM's bookkeeping is skipped)."""
        table = ConversationTurn.__table__
        assert isinstance(table, Table)
        self.session.connection().execute(insert(table), list(rows))

    def turns(self, conversation_id: int, limit: int = 500) -> Sequence[ConversationTurn]:
        return self.session.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.conversation_id == conversation_id)
            .order_by(ConversationTurn.id)
            .limit(limit)
        ).all()

    def messages(
        self, contact_id: int, since: datetime, until: datetime | None, limit: int = 500
    ) -> Sequence[ChannelMessage]:
        statement = select(ChannelMessage).where(
            ChannelMessage.contact_id == contact_id, ChannelMessage.sent_at >= since
        )
        if until is not None:
            statement = statement.where(ChannelMessage.sent_at <= until)
        return self.session.scalars(
            statement.order_by(ChannelMessage.sent_at, ChannelMessage.id).limit(limit)
        ).all()

    def listing(
        self,
        page: PageRequest,
        flow_id: int | None,
        status: ConversationStatus | None,
        owner_promoter_id: int | None,
        only_owner: bool,
    ) -> Page[Conversation]:
        from siyu.models import Contact

        statement = select(Conversation)
        if flow_id is not None:
            statement = statement.where(Conversation.flow_id == flow_id)
        if status is not None:
            statement = statement.where(Conversation.status == status)
        if only_owner:
            statement = statement.join(Contact, Contact.id == Conversation.contact_id).where(
                Contact.owner_promoter_id == owner_promoter_id
            )
        total = int(
            self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        )
        items = self.session.scalars(
            statement.order_by(Conversation.id.desc()).offset(page.offset).limit(page.size)
        ).all()
        return Page(list(items), total, page)
