"""The conversation engine: runs a conversation's steps until it waits, ends or is handed over.
Never commits; the caller (the pool's event job, the timer job, ``start_conversation``) holds the
transaction and the conversation's row lock.

Every state change is on the ``conversation`` row, so a new process resumes each conversation
exactly where the last commit left it. Flow versions are immutable, so their parsed form is
cached per process by id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.channels.base import MessageKind, OutgoingMessage
from siyu.channels.registry import backend_for, backend_name_for
from siyu.errors import AppError
from siyu.flows import actions, policies, rules
from siyu.flows.repository import ConversationRepository, FlowRepository
from siyu.models import AssistedTaskKind, Contact, OperatorAccount
from siyu.models.flows import Conversation, ConversationStatus

logger = logging.getLogger("siyu.flows")

HANDOVER_OUTCOME = "handover"  # an action outcome that parks the conversation for a person
DEFAULT_REMINDER_TEXT = "您好，还在吗？看到消息请回复我哦。"
HANDOVER_TASK_SOURCE = "conversation"


@dataclass
class Definition:
    """A flow version, parsed once."""

    version_id: int
    flow_id: int
    steps: dict[str, dict[str, Any]]
    order: list[str]
    settings: dict[str, Any]
    match_rules: dict[str, list[rules.MatchRule]] = field(default_factory=dict)

    def following(self, step_id: str) -> str:
        index = self.order.index(step_id) if step_id in self.order else -1
        return self.order[index + 1] if 0 <= index < len(self.order) - 1 else ""

    def next_of(self, step: dict[str, Any]) -> str:
        return str(step.get("next") or "") or self.following(str(step["id"]))

    @property
    def first(self) -> str:
        return self.order[0] if self.order else ""


_definitions: dict[int, Definition] = {}


def parse(version_id: int, flow_id: int, definition: dict[str, Any]) -> Definition:
    steps = rules.steps_of(definition)
    parsed = Definition(
        version_id=version_id,
        flow_id=flow_id,
        steps={str(step["id"]): step for step in steps},
        order=[str(step["id"]) for step in steps],
        settings=dict(definition.get("settings") or {}),
    )
    for step in steps:
        if step.get("type") == "wait":
            parsed.match_rules[str(step["id"])] = [
                rules.MatchRule.from_dict(rule) for rule in step.get("match") or []
            ]
    return parsed


def definition_of(session: Session, version_id: int) -> Definition:
    cached = _definitions.get(version_id)
    if cached is not None:
        return cached
    version = FlowRepository(session).version(version_id)
    if version is None:
        raise LookupError(f"flow version {version_id} does not exist")
    parsed = parse(version.id, version.flow_id, version.definition)
    if len(_definitions) > 10_000:
        _definitions.clear()
    _definitions[version_id] = parsed
    return parsed


def clear_cache() -> None:
    _definitions.clear()


ACCOUNTS_KEY = "flows.accounts"
TURN_BUFFER_KEY = "flows.turn_buffer"


def account_of(session: Session, account_id: int) -> OperatorAccount:
    """The account, held for the session's life: the identity map only keeps weak references,
    and thousands of conversations on one account would otherwise reload it per message."""
    held: dict[int, OperatorAccount] = session.info.setdefault(ACCOUNTS_KEY, {})
    account = held.get(account_id)
    if account is None:
        account = session.get(OperatorAccount, account_id)
        if account is None:
            raise LookupError(f"account {account_id} does not exist")
        held[account_id] = account
    return account


class Runner:
    """One conversation's work inside one transaction."""

    def __init__(
        self,
        session: Session,
        conversation: Conversation,
        contact: Contact,
        now: datetime,
        account: OperatorAccount | None = None,
    ) -> None:
        self.session = session
        self.conversation = conversation
        self.contact = contact
        self.now = now
        self.definition = definition_of(session, conversation.flow_version_id)
        self.repository = ConversationRepository(session)
        self._account = account
        # JSON columns are replaced, not mutated, so the ORM sees every change.
        self.variables: dict[str, str] = dict(conversation.variables or {})
        # Texts go to the backend, and turns to their table, when the run is over (``_write``):
        # the state and the messages are then written in one flush, not one per message.
        self._outbox: list[str] = []
        self._turns: list[dict[str, Any]] = []

    @property
    def account(self) -> OperatorAccount:
        if self._account is None:
            self._account = account_of(self.session, self.conversation.account_id)
        return self._account

    # --- records ------------------------------------------------------------------------------

    def turn(
        self, kind: str, text: str = "", outcome: str = "", event_id: int | None = None
    ) -> None:
        """Noted now, written with the run's other turns in one statement (``_write``)."""
        self._turns.append(
            {
                "conversation_id": self.conversation.id,
                "event_id": event_id,
                "step_id": self.conversation.step_id[:40],
                "kind": kind,
                "text": text[:5000],
                "outcome": outcome[:64],
                "created_at": self.now,
            }
        )

    def _save_variables(self) -> None:
        self.conversation.variables = dict(self.variables)

    # --- sending ------------------------------------------------------------------------------

    def send(self, body: str) -> None:
        text, missing = rules.render(body, self.variables)
        if missing:
            logger.info(
                "conversation %s step %s: no value for %s",
                self.conversation.id,
                self.conversation.step_id,
                ", ".join(missing),
            )
        if not text.strip():
            return
        policy = policies.policy_for(backend_name_for(self.account))
        conversation = self.conversation
        if not rules.reply_allowed(
            policy, conversation.last_inbound_at, conversation.replies_in_window, self.now
        ):
            conversation.held = [*(conversation.held or []), text]
            self.turn("held", text, "reply limit")
            return
        self._deliver(text)

    def _deliver(self, text: str) -> None:
        self.conversation.replies_in_window += 1
        self.conversation.last_message_text = text[:200]
        self.turn("sent", text)
        self._outbox.append(text)

    def _write(self) -> None:
        """Hand the run's texts to the account's backend, in order, then write its turns."""
        outbox, self._outbox = self._outbox, []
        if outbox:
            backend = backend_for(self.account)
            for text in outbox:
                backend.send(
                    self.session,
                    self.account,
                    OutgoingMessage(MessageKind.TEXT, text=text),
                    self.contact,
                )
        turns, self._turns = self._turns, []
        if not turns:
            return
        buffer: list[dict[str, Any]] | None = self.session.info.get(TURN_BUFFER_KEY)
        if buffer is not None:
            buffer.extend(turns)  # a batch (events.process_many) writes them all at its end
        else:
            self.repository.add_turns(turns)

    # --- entry points (each ends by sending what the run produced) ----------------------------

    def start(self) -> None:
        self.run()
        self._write()

    def resume(self, step_id: str) -> None:
        self.goto(step_id)
        self._write()

    def close(self, status: ConversationStatus, error: str = "") -> None:
        self.finish(status, error)
        self._write()

    def inbound(self, text: str, event_id: int | None) -> str:
        """A customer message (exactly once per event: the caller checked the turn)."""
        outcome = self._inbound(text, event_id)
        self._write()
        return outcome

    def timer(self) -> str:
        """The wait's due timer: a reminder, or the timeout (then ``on_timeout`` or the end)."""
        outcome = self._timer()
        self._write()
        return outcome

    def release_held(self) -> None:
        """After a customer message: send what a reply limit held back, as far as it allows."""
        held = list(self.conversation.held or [])
        if not held:
            return
        policy = policies.policy_for(backend_name_for(self.account))
        while held and rules.reply_allowed(
            policy,
            self.conversation.last_inbound_at,
            self.conversation.replies_in_window,
            self.now,
        ):
            self._deliver(held.pop(0))
        self.conversation.held = held

    # --- moving -------------------------------------------------------------------------------

    def goto(self, step_id: str) -> None:
        conversation = self.conversation
        conversation.status = ConversationStatus.RUNNING
        conversation.due_at = None
        conversation.retries = 0
        conversation.reminders_sent = 0
        if not step_id:
            self.finish(ConversationStatus.COMPLETED)
            return
        conversation.step_id = step_id
        self.run()

    def finish(self, status: ConversationStatus, error: str = "") -> None:
        conversation = self.conversation
        conversation.status = status
        conversation.open_key = None
        conversation.due_at = None
        conversation.ended_at = self.now
        conversation.error = error[:500]
        self._save_variables()
        self.turn("end", error, status.value)

    def run(self) -> None:
        """Execute steps from ``conversation.step_id`` until a wait, an end or a handover."""
        conversation = self.conversation
        for _ in range(rules.MAX_STEPS_PER_ADVANCE):
            step = self.definition.steps.get(conversation.step_id)
            if step is None:
                self.finish(ConversationStatus.COMPLETED)
                return
            kind = step.get("type")
            if kind == "send":
                self.send(str(step.get("body") or step.get("text") or ""))
                next_id = self.definition.next_of(step)
            elif kind == "wait":
                self._wait(step)
                return
            elif kind == "action":
                next_id = self._action(step)
                if conversation.status != ConversationStatus.RUNNING:
                    return
            elif kind == "branch":
                next_id = rules.choose_branch(step, self.variables) or self.definition.following(
                    str(step["id"])
                )
            elif kind == "handover":
                self.handover(str(step.get("text") or step.get("note") or ""))
                return
            else:  # end
                self.finish(ConversationStatus.COMPLETED)
                return
            if not next_id:
                self.finish(ConversationStatus.COMPLETED)
                return
            conversation.step_id = next_id
        self.fail("the flow ran more steps in a row than allowed (a loop without a wait?)")

    def _wait(self, step: dict[str, Any]) -> None:
        conversation = self.conversation
        conversation.status = ConversationStatus.WAITING
        conversation.waiting_since = self.now
        conversation.retries = 0
        conversation.reminders_sent = 0
        conversation.due_at = rules.next_timer(step, self.now, 0)[0]
        self._save_variables()

    def _action(self, step: dict[str, Any]) -> str:
        name = str(step.get("action") or "")
        handler = actions.get(name)
        if handler is None:
            self.fail(f"action {name!r} is not registered")
            return ""
        context = actions.ActionContext(
            conversation_id=self.conversation.id,
            contact_id=self.contact.id,
            consumer_id=self.contact.consumer_id,
            account_id=self.contact.account_id,
            step_id=str(step["id"]),
            params=rules.render_params(dict(step.get("params") or {}), self.variables),
            variables=dict(self.variables),
            campaign_id=self.conversation.campaign_id,
            inbound_text=self.variables.get("_reply", ""),
        )
        try:
            with self.session.begin_nested():
                result = handler(self.session, context)
        except AppError as error:
            self.turn("action", error.en, f"error: {error.code}")
            self.fail(error.en)
            self._handover_task(f"动作 {name} 失败：{error.zh}")
            return ""
        self.variables.update({key: str(value) for key, value in result.variables.items()})
        self._save_variables()
        self.turn("action", name, result.outcome)
        if result.reply:
            self.send(result.reply)
        if result.outcome == HANDOVER_OUTCOME:
            self.handover(str(context.params.get("note") or ""))
            return ""
        outcomes = step.get("on") or {}
        return str(outcomes.get(result.outcome) or "") or self.definition.next_of(step)

    def handover(self, note: str) -> None:
        conversation = self.conversation
        conversation.status = ConversationStatus.HANDOVER
        conversation.due_at = None
        self._save_variables()
        self._handover_task(note)
        self.turn("handover", note)

    def _handover_task(self, note: str) -> None:
        from siyu.pool import inbox

        last = self.variables.get("_reply", "")
        lines = [note or "会话需要人工接手", f"客户最后回复：{last}" if last else ""]
        inbox.create_task(
            self.session,
            self.account,
            AssistedTaskKind.OTHER,
            script_text="\n".join(line for line in lines if line),
            due_at=self.now,
            contact=self.contact,
            title=f"会话转人工 #{self.conversation.id}",
            payload={"conversation_id": self.conversation.id, "step_id": self.conversation.step_id},
            source_kind=HANDOVER_TASK_SOURCE,
            source_id=self.conversation.id,
        )

    def fail(self, error: str) -> None:
        logger.warning("conversation %s failed: %s", self.conversation.id, error)
        self.finish(ConversationStatus.FAILED, error)

    # --- inputs -------------------------------------------------------------------------------

    def _inbound(self, text: str, event_id: int | None) -> str:
        conversation = self.conversation
        conversation.last_event_id = event_id
        conversation.last_inbound_at = self.now
        conversation.replies_in_window = 0
        self.turn("inbound", text, "", event_id)
        self.release_held()
        if conversation.status != ConversationStatus.WAITING:
            return f"recorded ({conversation.status.value})"
        step = self.definition.steps.get(conversation.step_id)
        if step is None or step.get("type") != "wait":
            self.goto(conversation.step_id)
            return "resumed"
        match = rules.match_reply(self.definition.match_rules.get(str(step["id"]), []), text)
        self.variables["_reply"] = text.strip()[: rules.MAX_MATCHED_TEXT]
        if match is None:
            return self._no_match(step)
        save_as = str(step.get("save_as") or "")
        if save_as:
            self.variables[save_as] = match.value
        self._save_variables()
        self.goto(match.next or self.definition.next_of(step))
        return "advanced"

    def _no_match(self, step: dict[str, Any]) -> str:
        conversation = self.conversation
        settings = self.definition.settings
        limit = step.get("max_retries")
        if not isinstance(limit, int):
            limit = settings.get("max_retries")
        max_retries = limit if isinstance(limit, int) else rules.DEFAULT_MAX_RETRIES
        conversation.retries += 1
        self._save_variables()
        if conversation.retries > max_retries:
            target = str(
                step.get("on_retries_exhausted") or settings.get("on_retries_exhausted") or ""
            )
            if target:
                self.goto(target)
            else:
                self.handover("客户多次回复无法识别")
            return "retries exhausted"
        retry = str(
            step.get("retry_body")
            or step.get("retry_text")
            or settings.get("retry_body")
            or settings.get("retry_text")
            or rules.DEFAULT_RETRY_TEXT
        )
        self.send(retry)
        return "retry"

    def _timer(self) -> str:
        conversation = self.conversation
        if conversation.status != ConversationStatus.WAITING or conversation.due_at is None:
            return "not waiting"
        step = self.definition.steps.get(conversation.step_id)
        if step is None or conversation.waiting_since is None:
            conversation.due_at = None
            return "no timer"
        at, kind = rules.next_timer(step, conversation.waiting_since, conversation.reminders_sent)
        if at is None or at > self.now:
            conversation.due_at = at
            return "not due"
        if kind == "reminder":
            conversation.reminders_sent += 1
            self.turn("timer", "", "reminder")
            self.send(
                str(step.get("reminder_body") or step.get("reminder_text") or DEFAULT_REMINDER_TEXT)
            )
            conversation.due_at = rules.next_timer(
                step, conversation.waiting_since, conversation.reminders_sent
            )[0]
            return "reminded"
        self.turn("timer", "", "timeout")
        target = str(step.get("on_timeout") or "")
        if target:
            self.goto(target)
        else:
            self.finish(ConversationStatus.COMPLETED, "timed out")
        return "timed out"
