"""The action registry: what a flow step of type ``action`` can call.

Other domains register their actions at import time of their service module, e.g. campaigns::

    from siyu.flows import actions

    @actions.action("campaign.check_quota")
    def check_quota(session: Session, context: actions.ActionContext) -> actions.ActionResult:
        ...
        return actions.ActionResult("available", {"剩余名额": "12"})

A handler runs inside the engine's transaction, must not commit, and must be idempotent for the
same (conversation, step) — the engine may replay a step after a crash. ``outcome`` picks the
step's branch (``{"on": {"available": "ask_style", "sold_out": "sorry"}}``); ``variables`` are
merged into the conversation's variables (script placeholders such as {剩余名额}); ``reply``,
when given, is sent to the contact before the flow moves on.

An action that fails in an expected way returns an outcome (``"sold_out"``, ``"not_in_campaign"``)
rather than raising; an ``AppError`` raised by a handler marks the conversation ``failed`` with
the error's message and hands it over to a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ActionContext:
    conversation_id: int
    contact_id: int
    consumer_id: int
    account_id: int
    step_id: str
    params: Mapping[str, Any]  # the step's params, with {variables} already substituted
    variables: Mapping[str, str]  # the conversation's variables so far
    campaign_id: int | None = None  # set when the conversation belongs to a campaign
    inbound_text: str = ""  # the reply that led to this step, if any


@dataclass(frozen=True)
class ActionResult:
    outcome: str = "ok"
    variables: Mapping[str, str] = field(default_factory=dict)
    reply: str | None = None


ActionHandler = Callable[[Session, ActionContext], ActionResult]

_registry: dict[str, ActionHandler] = {}


def register(name: str, handler: ActionHandler) -> None:
    existing = _registry.get(name)
    if existing is not None and existing is not handler:
        raise ValueError(f"flow action {name!r} is already registered")
    _registry[name] = handler


def action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    def decorate(handler: ActionHandler) -> ActionHandler:
        register(name, handler)
        return handler

    return decorate


def get(name: str) -> ActionHandler | None:
    return _registry.get(name)


def names() -> list[str]:
    return sorted(_registry)
