"""Checking copy before it goes out. Never commits.

``lint_text`` is what the composer shows; ``require_publishable`` is what every sender calls
before a text leaves siyu: a blocking finding stops it unless a platform admin overrides with a
reason, and each override is an audit row naming the rules it overrode.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.compliance import rules
from siyu.compliance.rules import Finding, TextKind
from siyu.errors import PermissionDenied, ValidationFailed

MAX_TEXT_LENGTH = 5000


class TextTooLong(ValidationFailed):
    code = "compliance_text_too_long"
    message_en = "The text is {length} characters; at most {limit} can be checked at once."
    message_zh = "文案共 {length} 字，一次最多检查 {limit} 字，请分段检查。"


class ComplianceBlocked(ValidationFailed):
    code = "compliance_blocked"
    message_en = "The text breaks {count} blocking rule(s): {rule_ids}. Fix it or ask an admin."
    message_zh = "文案有 {count} 处禁止内容（{labels}），请修改后再发送，或由管理员填写原因后放行。"


class OverrideReasonRequired(ValidationFailed):
    code = "compliance_override_reason_required"
    message_en = "An override needs a reason of 5 to 500 characters."
    message_zh = "放行需要填写原因（5–500 字），该操作会记入审计日志。"


def lint_text(text: str, kind: TextKind = TextKind.SCRIPT) -> list[Finding]:
    if len(text) > MAX_TEXT_LENGTH:
        raise TextTooLong(length=len(text), limit=MAX_TEXT_LENGTH)
    return rules.lint(text, kind)


def require_publishable(
    session: Session,
    actor: Principal,
    text: str,
    kind: TextKind,
    *,
    object_type: str,
    object_id: int | None,
    override_reason: str | None = None,
) -> list[Finding]:
    """The findings, when the text may go out; raises when a blocking finding is not overridden.

    Only a platform admin may override, with a reason; the override is audited.
    """
    findings = lint_text(text, kind)
    blockers = rules.blocking(findings)
    if not blockers:
        return findings
    if override_reason is None:
        labels = "、".join(dict.fromkeys(rules.CATEGORY_LABELS[f.category] for f in blockers))
        raise ComplianceBlocked(
            count=len(blockers),
            rule_ids=", ".join(dict.fromkeys(f.rule_id for f in blockers)),
            labels=labels,
        )
    if not actor.is_admin:
        raise PermissionDenied()
    reason = override_reason.strip()
    if not 5 <= len(reason) <= 500:
        raise OverrideReasonRequired()
    audit.record(
        session,
        actor.user_id,
        "compliance.overridden",
        object_type,
        object_id,
        reason,
        rules=sorted({finding.rule_id for finding in blockers}),
        kind=kind.value,
        excerpt=text[:200],
    )
    return findings
