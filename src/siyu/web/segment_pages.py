"""Console pages: contacts (search, filters, masked phones), segments (builder with a live count
over htmx, snapshots, CSV export), tags; the region options of cascading selects."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from starlette.datastructures import FormData

from siyu.errors import AppError
from siyu.kit.money import parse_yuan
from siyu.kit.pagination import PageRequest
from siyu.models import (
    CONTACT_SOURCE_LABELS,
    CONTACT_STATE_LABELS,
    LIFECYCLE_STAGE_LABELS,
    ContactSourceKind,
    ContactState,
    LifecycleStage,
)
from siyu.models.segments import TAG_KIND_LABELS
from siyu.regions import service as regions
from siyu.regions.rules import CITY_TIER_LABELS, CityTier
from siyu.segments import contacts, tags
from siyu.segments import service as segments
from siyu.segments.schemas import SegmentIn, SegmentRule
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
LABELS: dict[str, Any] = {
    "stages": LIFECYCLE_STAGE_LABELS,
    "contact_states": CONTACT_STATE_LABELS,
    "sources": CONTACT_SOURCE_LABELS,
    "tiers": CITY_TIER_LABELS,
    "tag_kinds": TAG_KIND_LABELS,
    "stage_values": list(LifecycleStage),
    "state_values": list(ContactState),
    "source_values": list(ContactSourceKind),
    "tier_values": list(CityTier),
}


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


# --- regions (cascading selects) --------------------------------------------------------------


@router.get("/console/regions/options", response_class=HTMLResponse)
def region_options(
    user: ConsoleUser, parent: str = "", province: str = "", city: str = "", selected: str = ""
) -> HTMLResponse:
    """``<option>``s of a region's children for an htmx cascading select (the changed select
    sends its own name: ``province`` fills the cities, ``city`` the districts)."""
    parent = parent or city or province
    if not parent.strip():
        return HTMLResponse('<option value="">（不限）</option>')
    try:
        children = regions.children(parent.strip())
    except AppError:
        children = []
    options = ['<option value="">（不限）</option>']
    for region in children:
        mark = " selected" if region.code == selected else ""
        options.append(f'<option value="{region.code}"{mark}>{region.display_name}</option>')
    return HTMLResponse("".join(options))


def _region_context(code: str) -> dict[str, Any]:
    """The three select lists and their selections for a stored region code."""
    path = [] if not code else regions.regions().path(code)
    chosen = [item.code for item in path] + ["", "", ""]
    return {
        "provinces": regions.children(None),
        "cities": regions.children(chosen[0]) if chosen[0] else [],
        "districts": regions.children(chosen[1]) if chosen[1] else [],
        "province_code": chosen[0],
        "city_code": chosen[1],
        "district_code": chosen[2],
    }


# --- contacts -------------------------------------------------------------------------------------


@router.get("/console/contacts")
def contacts_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    q: str = "",
    page: int = 1,
    tag_id: str = "",
    account_id: str = "",
    stage: str = "",
    state: str = "",
    province: str = "",
    city: str = "",
    district: str = "",
    tier: str = "",
    everyone: str = "",
) -> Response:
    region = district or city or province
    filters = {
        "tag_id": tag_id if tag_id.isdigit() else "",
        "account_id": account_id if account_id.isdigit() else "",
        "stage": stage,
        "state": state,
        "region": region,
        "tier": tier,
    }
    error = ""
    try:
        rule = contacts.filters_rule(filters)
        result = contacts.list_contacts(
            session, user, rule, PageRequest(page, PAGE_SIZE), q, all_owners=bool(everyone)
        )
    except AppError as problem:
        if problem.status == 403:
            raise
        error = problem.zh
        result = contacts.list_contacts(session, user, SegmentRule(), PageRequest(1, PAGE_SIZE))
    return render(
        request,
        "console/contacts.html",
        {
            **LABELS,
            **_region_context(region if not error else ""),
            "rows": result,
            "pager": result,
            "q": q,
            "filters": filters,
            "everyone": bool(everyone) and user.is_admin,
            "tag_choices": tags.list_tags(session, user),
            "error": error,
        },
        user=user,
    )


# --- segments -------------------------------------------------------------------------------------


def _ids(text: str) -> list[int]:
    return [
        int(part) for part in text.replace("，", ",").replace(" ", ",").split(",") if part.isdigit()
    ]


def rule_from_form(form: FormData) -> dict[str, Any]:
    """The builder's fields as a rule; an advanced JSON rule, when given, wins."""
    advanced = str(form.get("rule_json") or "").strip()
    if advanced:
        try:
            parsed: dict[str, Any] = json.loads(advanced)
        except json.JSONDecodeError as error:
            raise segments.SegmentRuleInvalid(detail=f"JSON: {error.msg}") from error
        return parsed
    conditions: list[dict[str, Any]] = []
    tag_ids = [int(str(value)) for value in form.getlist("tag_ids") if str(value).isdigit()]
    if tag_ids:
        match = str(form.get("tag_match") or "any")
        conditions.append({"kind": "tag", "tag_ids": tag_ids, "match": match})
    region = str(form.get("district") or form.get("city") or form.get("province") or "")
    if region:
        conditions.append({"kind": "region", "codes": [region]})
    for kind, field, key in (
        ("tier", "tiers", "tiers"),
        ("lifecycle", "stages", "stages"),
        ("source", "sources", "source_kinds"),
    ):
        values = [str(value) for value in form.getlist(field) if value]
        if values:
            conditions.append({"kind": kind, key: values})
    last_order = str(form.get("last_order_op") or "")
    if last_order:
        condition: dict[str, Any] = {"kind": "last_order", "op": last_order}
        if last_order in ("within", "not_within"):
            days = str(form.get("last_order_days") or "")
            condition["days"] = int(days) if days.isdigit() else 30
        conditions.append(condition)
    spend_min = str(form.get("spend_min") or "").strip()
    spend_max = str(form.get("spend_max") or "").strip()
    if spend_min or spend_max:
        spend: dict[str, Any] = {"kind": "spend"}
        if spend_min:
            spend["min_fen"] = parse_yuan(spend_min, "spend_min", "消费金额下限")
        if spend_max:
            spend["max_fen"] = parse_yuan(spend_max, "spend_max", "消费金额上限")
        conditions.append(spend)
    activity = str(form.get("activity_op") or "")
    if activity:
        days = str(form.get("activity_days") or "")
        conditions.append(
            {"kind": "activity", "op": activity, "days": int(days) if days.isdigit() else 7}
        )
    account_ids = _ids(str(form.get("account_ids") or ""))
    if account_ids:
        conditions.append({"kind": "account", "account_ids": account_ids})
    group_ids = _ids(str(form.get("group_ids") or ""))
    if group_ids:
        conditions.append({"kind": "group", "group_ids": group_ids})
    if form.get("reachable_only"):
        conditions.append({"kind": "state", "states": ["confirmed"]})
        conditions.append({"kind": "opt_out", "opted_out": False})
    return {"op": "and", "conditions": conditions}


@router.get("/console/segments")
def segments_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    return render(
        request,
        "console/segments.html",
        {
            **LABELS,
            **_region_context(""),
            "segments": segments.list_segments(session, user),
            "tag_choices": tags.list_tags(session, user),
        },
        user=user,
    )


@router.post("/console/segments/count", response_class=HTMLResponse)
async def segment_count(request: Request, user: ConsoleUser, session: DbSession) -> HTMLResponse:
    """The builder's live count (htmx): matching contacts and how many a broadcast reaches."""
    form = await request.form()
    try:
        rule = rule_from_form(form)
        matched, reachable = segments.count(
            session, user, rule, all_owners=bool(form.get("all_owners"))
        )
    except AppError as error:
        # The message may quote what was typed: escape it.
        return HTMLResponse(
            f'<span class="text-danger" data-testid="segment-count-error">{escape(error.zh)}</span>'
        )
    return HTMLResponse(
        f'<span data-testid="segment-count">匹配 <b>{matched:,}</b> 人</span>'
        f'<span class="text-muted ms-2">其中可触达 {reachable:,} 人（已添加且未退订）</span>'
    )


@router.post("/console/segments", dependencies=[CsrfChecked])
async def segment_create(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    form = await request.form()
    try:
        rule = segments.parse_rule(rule_from_form(form))
        segment = segments.create_segment(
            session,
            user,
            SegmentIn(
                name=str(form.get("name") or "").strip()[:64] or "未命名人群",
                description=str(form.get("description") or "")[:500],
                rule=rule,
                all_owners=bool(form.get("all_owners")),
            ),
        )
    except AppError as error:
        flash(request, error.zh, "danger")
        return _redirect("/console/segments")
    flash(request, f"已保存人群“{segment.name}”。")
    return _redirect(f"/console/segments/{segment.id}")


@router.get("/console/segments/{segment_id}")
def segment_detail(
    request: Request, segment_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    segment = segments.get_segment(session, user, segment_id)
    matched, reachable = segments.count_segment(session, user, segment_id)
    from siyu.models.segments import SegmentSnapshot

    snapshots = (
        session.query(SegmentSnapshot)
        .filter(SegmentSnapshot.segment_id == segment.id)
        .order_by(SegmentSnapshot.id.desc())
        .limit(20)
        .all()
    )
    return render(
        request,
        "console/segment_detail.html",
        {
            "segment": segment,
            "matched": matched,
            "reachable": reachable,
            "rule_text": json.dumps(segment.rule, ensure_ascii=False, indent=2),
            "snapshots": snapshots,
        },
        user=user,
    )


@router.post("/console/segments/{segment_id}/materialise", dependencies=[CsrfChecked])
def segment_materialise(
    request: Request, segment_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    snapshot = segments.materialise(session, user, segment_id, "broadcast")
    flash(request, f"已生成发送名单：{snapshot.member_count:,} 人。")
    return _redirect(f"/console/segments/{segment_id}")


@router.post("/console/segments/{segment_id}/archive", dependencies=[CsrfChecked])
def segment_archive(
    request: Request, segment_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    segments.archive_segment(session, user, segment_id)
    flash(request, "人群已删除。")
    return _redirect("/console/segments")


@router.get("/console/segments/{segment_id}/export.csv")
def segment_export(segment_id: int, user: ConsoleUser, session: DbSession) -> Response:
    text, _rows = segments.export_csv(session, user, segment_id)
    return Response(
        "\ufeff" + text,  # a BOM so Excel opens the UTF-8 file in Chinese
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'},
    )


# --- tags -----------------------------------------------------------------------------------------


@router.get("/console/tags")
def tags_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    return render(
        request,
        "console/tags.html",
        {**LABELS, "tags": tags.list_tags(session, user)},
        user=user,
    )


@router.post("/console/tags", dependencies=[CsrfChecked])
async def tag_create(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    form = await request.form()
    try:
        tag = tags.create_tag(
            session,
            user,
            str(form.get("name") or ""),
            color=str(form.get("color") or "secondary"),
            description=str(form.get("description") or ""),
        )
    except AppError as error:
        flash(request, error.zh, "danger")
        return _redirect("/console/tags")
    flash(request, f"已创建标签“{tag.name}”。")
    return _redirect("/console/tags")


@router.post("/console/tags/{tag_id}/contacts", dependencies=[CsrfChecked])
async def tag_apply(
    request: Request, tag_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    form = await request.form()
    try:
        added = tags.tag_contacts(session, user, tag_id, _ids(str(form.get("contact_ids") or "")))
    except AppError as error:
        flash(request, error.zh, "danger")
        return _redirect("/console/tags")
    flash(request, f"已为 {added} 位联系人打上标签。")
    return _redirect("/console/tags")
