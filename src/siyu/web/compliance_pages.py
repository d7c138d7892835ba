"""文案合规检查: paste copy, pick where it goes, see every finding with its rule and a fix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from siyu.compliance import rules, service
from siyu.compliance.rules import TextKind
from siyu.errors import AppError
from siyu.web.deps import ConsoleUser, CsrfChecked, render

router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    TextKind.SCRIPT: "一对一话术",
    TextKind.BROADCAST: "群发",
    TextKind.MOMENT: "朋友圈",
    TextKind.POSTER: "海报文字",
    TextKind.CAMPAIGN: "活动规则",
}


def _page(
    request: Request,
    user: ConsoleUser,
    text: str = "",
    kind: TextKind = TextKind.MOMENT,
    checked: bool = False,
) -> Response:
    error: str | None = None
    findings: list[rules.Finding] = []
    if checked:
        try:
            findings = service.lint_text(text, kind)
        except AppError as failure:
            error = failure.zh
    return render(
        request,
        "console/compliance.html",
        {
            "text": text,
            "kind": kind,
            "checked": checked and error is None,
            "error": error,
            "findings": findings,
            "kind_labels": KIND_LABELS,
            "severity_labels": rules.SEVERITY_LABELS,
            "category_labels": rules.CATEGORY_LABELS,
            "blocking": any(finding.blocking for finding in findings),
        },
        status_code=422 if error else 200,
        user=user,
    )


@router.get("/console/compliance")
def compliance_page(request: Request, user: ConsoleUser) -> Response:
    return _page(request, user)


@router.post("/console/compliance", dependencies=[CsrfChecked])
def compliance_check(
    request: Request,
    user: ConsoleUser,
    text: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = TextKind.MOMENT.value,
) -> Response:
    chosen = TextKind(kind) if kind in TextKind.__members__.values() else TextKind.MOMENT
    return _page(request, user, text, chosen, checked=True)
