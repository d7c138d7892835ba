"""跟进规则: 1:1 follow-ups (clicked but did not buy, first-order thanks, win-back, VIP groups)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from siyu.errors import AppError
from siyu.followups import service
from siyu.followups.schemas import RuleIn
from siyu.models.followups import FOLLOWUP_KIND_LABELS, FOLLOWUP_STATUS_LABELS, FollowupKind
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

DELAY_HINTS = {
    FollowupKind.CLICK_NO_BUY: "点击后多少小时仍未下单",
    FollowupKind.FIRST_ORDER: "确认收货后多少小时",
    FollowupKind.INACTIVE: "多少小时没有互动（720 = 30 天）",
    FollowupKind.VIP_GROUP: "（不使用）",
}


def _number(text: str, default: int) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else default


@router.get("/console/followups")
def followups_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    rules = service.list_rules(session, user)
    return render(
        request,
        "console/followups.html",
        {
            "rules": rules,
            "counts": service.counts_by_rule(session, user),
            "recent": service.recent(session, user, 50),
            "rule_names": {rule.id: rule.name for rule in rules},
            "kind_labels": FOLLOWUP_KIND_LABELS,
            "status_labels": FOLLOWUP_STATUS_LABELS,
            "delay_hints": DELAY_HINTS,
        },
        user=user,
    )


@router.post("/console/followups", dependencies=[CsrfChecked])
def rule_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = FollowupKind.INACTIVE.value,
    delay_hours: Annotated[str, Form()] = "24",
    script: Annotated[str, Form()] = "",
    link_id: Annotated[str, Form()] = "",
    group_code_id: Annotated[str, Form()] = "",
    vip_min_orders: Annotated[str, Form()] = "3",
    vip_min_spend_yuan: Annotated[str, Form()] = "0",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    chosen = FollowupKind(kind) if kind in FollowupKind.__members__.values() else None
    if chosen is None:
        flash(request, "请选择触发条件。", "danger")
        return RedirectResponse("/console/followups", status_code=303)
    try:
        created = service.create_rule(
            session,
            user,
            RuleIn(
                name=name[:60],
                kind=chosen,
                delay_hours=_number(delay_hours, 24),
                script=script[:2000],
                link_id=_number(link_id, 0) or None,
                group_code_id=_number(group_code_id, 0) or None,
                vip_min_orders=min(_number(vip_min_orders, 3), 10_000),
                vip_min_spend_fen=_number(vip_min_spend_yuan, 0) * 100,
                override_reason=override_reason.strip() or None,
            ),
        )
    except AppError as error:
        if error.status in (403,):
            raise
        session.rollback()
        flash(request, f"创建失败：{error.zh}", "danger")
        return RedirectResponse("/console/followups", status_code=303)
    flash(request, f"已创建跟进规则“{created.name}”，每 10 分钟检查一次触发条件。")
    return RedirectResponse("/console/followups", status_code=303)


@router.post("/console/followups/{rule_id}/active", dependencies=[CsrfChecked])
def rule_active(
    request: Request,
    rule_id: int,
    user: ConsoleUser,
    session: DbSession,
    active: Annotated[str, Form()] = "0",
) -> Response:
    rule = service.set_rule_active(session, user, rule_id, active == "1")
    flash(request, f"规则“{rule.name}”已{'启用' if rule.is_active else '停用'}。")
    return RedirectResponse("/console/followups", status_code=303)
