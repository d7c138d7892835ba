"""JSON API: ``POST /api/v1/compliance/lint`` checks a text for any signed-in caller."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.compliance import service
from siyu.compliance.rules import Finding
from siyu.compliance.schemas import FindingOut, LintIn, LintOut
from siyu.web.deps import ApiUser

router = APIRouter(tags=["compliance"])


def finding_out(finding: Finding) -> FindingOut:
    return FindingOut(
        rule_id=finding.rule_id,
        category=finding.category,
        severity=finding.severity.name.lower(),
        message_zh=finding.message_zh,
        regulation=finding.regulation,
        suggestion_zh=finding.suggestion_zh,
        start=finding.start,
        end=finding.end,
        excerpt=finding.excerpt,
    )


@router.post("/compliance/lint", response_model=LintOut)
def lint(data: LintIn, user: ApiUser) -> LintOut:
    findings = service.lint_text(data.text, data.kind)
    return LintOut(
        blocking=any(finding.blocking for finding in findings),
        findings=[finding_out(finding) for finding in findings],
    )
