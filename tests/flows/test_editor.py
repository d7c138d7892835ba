"""The console's step editor: every shipped flow survives being shown as rows and posted back
(pure: no database)."""

from __future__ import annotations

import pytest

from siyu.flows import rules
from siyu.flows.templates import TEMPLATES
from siyu.web.flow_pages import ROW_FIELDS, row_of, steps_of_form


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_templates_round_trip_through_the_rows(key: str) -> None:
    template = TEMPLATES[key]
    ids = {name: number for number, name in enumerate(template.scripts, start=1)}
    steps = template.steps(ids)
    assert rules.problems({"steps": steps}) == []
    rows = [row_of(step) for step in steps] + [dict.fromkeys(ROW_FIELDS, "")]
    columns = {field: [row[field] for row in rows] for field in ROW_FIELDS}
    assert steps_of_form(columns) == steps


def test_a_row_with_neither_id_nor_type_is_skipped() -> None:
    columns = {field: ["", ""] for field in ROW_FIELDS}
    columns["id"][1], columns["type"][1] = "end", "end"
    assert steps_of_form(columns) == [{"id": "end", "type": "end"}]


def test_minutes_must_be_whole_numbers() -> None:
    columns = {field: [""] for field in ROW_FIELDS}
    columns.update(id=["w"], type=["wait"], match=["*"], timeout=["1.5"])
    with pytest.raises(rules.RuleSyntaxError, match="超时必须是整数"):
        steps_of_form(columns)


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_script_previews_without_unknown_variables(key: str) -> None:
    from siyu.flows.service import preview

    for name, body in TEMPLATES[key].scripts.values():
        assert preview(body).missing == [], name
