"""API shapes of the compliance lint."""

from __future__ import annotations

from pydantic import BaseModel, Field

from siyu.compliance.rules import Category, TextKind


class LintIn(BaseModel):
    text: str = Field(max_length=5000)
    kind: TextKind = TextKind.SCRIPT


class FindingOut(BaseModel):
    rule_id: str
    category: Category
    severity: str
    message_zh: str
    regulation: str
    suggestion_zh: str
    start: int
    end: int
    excerpt: str


class LintOut(BaseModel):
    blocking: bool
    findings: list[FindingOut]
