"""An existing promoter binds an inviter (API and H5): modes, self-binding, cycles, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siyu.db import Database
from siyu.models import AuditEvent, PromoterBinding
from tests.conftest import ConsoleClient, count_rows
from tests.promoters.conftest import (
    MadePromoter,
    audit_events,
    bindings_of,
    inviter_of,
    phone_for,
    set_binding_mode,
)

Make = Callable[..., MadePromoter]


def all_bindings(database: Database) -> list[PromoterBinding]:
    from sqlalchemy import select

    with database.sessions() as session:
        rows = list(session.scalars(select(PromoterBinding).order_by(PromoterBinding.id)))
        session.expunge_all()
        return rows


def bind(api_as: Callable[..., Any], who: MadePromoter, code: str) -> Any:
    return api_as(who.principal).post("/api/v1/promoters/me/bind", json={"invite_code": code})


class TestFirstBindWins:
    def test_promoter_without_inviter_binds_once(
        self, api_as: Any, database: Database, make_promoter: Make
    ) -> None:
        inviter = make_promoter("王小明", 1)
        loner = make_promoter("李四", 2)
        response = bind(api_as, loner, inviter.invite_code.lower())
        assert response.status_code == 200
        assert response.json()["inviter_id"] == inviter.id
        assert response.json()["inviter_name"] == "王小明"
        assert inviter_of(database, loner.id) == inviter.id
        [binding] = bindings_of(database, loner.id)
        assert (binding.inviter_id, binding.previous_inviter_id) == (inviter.id, None)
        assert (binding.source, binding.mode.value) == ("rebind", "first_bind_wins")
        [event] = audit_events(database, "promoter.rebound")
        assert event.actor_user_id == loner.principal.user_id
        assert event.detail == {"previous_inviter_id": None, "inviter_id": inviter.id}

    def test_second_binding_is_refused_and_nothing_changes(
        self, api_as: Any, database: Database, make_promoter: Make
    ) -> None:
        first = make_promoter("王小明", 1)
        second = make_promoter("赵六", 2)
        member = make_promoter("李四", 3, inviter=first)
        before = (count_rows(database, PromoterBinding), count_rows(database, AuditEvent))
        response = bind(api_as, member, second.invite_code)
        assert response.status_code == 409
        assert response.json()["error"] == "inviter_already_bound"
        assert "先绑定者优先" in response.json()["detail_zh"]
        assert inviter_of(database, member.id) == first.id
        assert (count_rows(database, PromoterBinding), count_rows(database, AuditEvent)) == before


class TestNewUsersOnly:
    def test_existing_promoter_cannot_bind(
        self, api_as: Any, database: Database, settings: Any, make_promoter: Make
    ) -> None:
        set_binding_mode(settings, "new_users_only")
        inviter = make_promoter("王小明", 1)
        loner = make_promoter("李四", 2)
        before = count_rows(database, PromoterBinding)
        response = bind(api_as, loner, inviter.invite_code)
        assert response.status_code == 409
        assert response.json()["error"] == "binding_new_promoters_only"
        assert inviter_of(database, loner.id) is None
        assert count_rows(database, PromoterBinding) == before

    def test_new_promoter_binds_at_signup(
        self, client: ConsoleClient, database: Database, settings: Any, make_promoter: Make
    ) -> None:
        set_binding_mode(settings, "new_users_only")
        inviter = make_promoter("王小明", 1)
        response = client.submit(
            "/join",
            {
                "invite_code": inviter.invite_code,
                "name": "李四",
                "phone": phone_for(2),
                "password": "correct-horse-42",
            },
        )
        assert response.status_code == 303
        [binding] = all_bindings(database)
        assert (binding.inviter_id, binding.mode.value) == (inviter.id, "new_users_only")
        assert binding.source == "signup"


class TestOverride:
    def test_latest_code_wins_and_history_keeps_both(
        self, api_as: Any, database: Database, settings: Any, make_promoter: Make
    ) -> None:
        set_binding_mode(settings, "override")
        first = make_promoter("王小明", 1)
        second = make_promoter("赵六", 2)
        member = make_promoter("李四", 3, inviter=first)
        response = bind(api_as, member, second.invite_code)
        assert response.status_code == 200
        assert inviter_of(database, member.id) == second.id
        history = bindings_of(database, member.id)
        assert [(b.inviter_id, b.previous_inviter_id, b.source) for b in history] == [
            (first.id, None, "system"),
            (second.id, first.id, "rebind"),
        ]
        assert history[1].mode.value == "override"
        events = audit_events(database, "promoter.rebound")
        assert events[-1].detail == {"previous_inviter_id": first.id, "inviter_id": second.id}

    def test_same_inviter_again_is_refused(
        self, api_as: Any, database: Database, settings: Any, make_promoter: Make
    ) -> None:
        set_binding_mode(settings, "override")
        first = make_promoter("王小明", 1)
        member = make_promoter("李四", 2, inviter=first)
        response = bind(api_as, member, first.invite_code)
        assert response.status_code == 409
        assert response.json()["error"] == "already_bound_to_inviter"
        assert len(bindings_of(database, member.id)) == 1


class TestSelfBinding:
    def test_own_code_is_refused_in_every_mode(
        self, api_as: Any, database: Database, settings: Any, make_promoter: Make
    ) -> None:
        loner = make_promoter("李四", 1)
        for mode in ("first_bind_wins", "override"):
            set_binding_mode(settings, mode)
            response = bind(api_as, loner, loner.invite_code)
            assert response.status_code == 422
            assert response.json()["error"] == "self_binding_refused"
        assert inviter_of(database, loner.id) is None
        assert count_rows(database, PromoterBinding) == 0


class TestCycles:
    def test_root_binding_to_its_l2_is_refused(
        self, api_as: Any, database: Database, make_promoter: Make
    ) -> None:
        a = make_promoter("甲", 1)
        b = make_promoter("乙", 2, inviter=a)
        c = make_promoter("丙", 3, inviter=b)
        before = (count_rows(database, PromoterBinding), count_rows(database, AuditEvent))
        response = bind(api_as, a, c.invite_code)
        assert response.status_code == 409
        assert response.json()["error"] == "binding_cycle_refused"
        assert "形成循环" in response.json()["detail_zh"]
        assert inviter_of(database, a.id) is None
        assert (count_rows(database, PromoterBinding), count_rows(database, AuditEvent)) == before

    def test_cycle_refused_even_when_overriding_deep_chain(
        self, api_as: Any, database: Database, settings: Any, make_promoter: Make
    ) -> None:
        set_binding_mode(settings, "override")
        chain = [make_promoter("推手0", 0)]
        for number in range(1, 6):
            chain.append(make_promoter(f"推手{number}", number, inviter=chain[-1]))
        outsider = make_promoter("外人", 9)
        # chain[1] moves under an outsider: allowed; then the root binds to the last: a cycle.
        assert bind(api_as, chain[1], outsider.invite_code).status_code == 200
        response = bind(api_as, outsider, chain[5].invite_code)
        assert response.status_code == 409
        assert response.json()["error"] == "binding_cycle_refused"
        assert inviter_of(database, outsider.id) is None

    def test_binding_to_unrelated_branch_is_allowed(
        self, api_as: Any, database: Database, make_promoter: Make
    ) -> None:
        a = make_promoter("甲", 1)
        b = make_promoter("乙", 2, inviter=a)
        loner = make_promoter("丙", 3)
        assert bind(api_as, loner, b.invite_code).status_code == 200
        assert inviter_of(database, loner.id) == b.id


class TestBindRefusedForOthers:
    def test_unknown_code_is_404(self, api_as: Any, make_promoter: Make) -> None:
        loner = make_promoter("李四", 1)
        response = bind(api_as, loner, "NOPE2345")
        assert response.status_code == 404
        assert response.json()["error"] == "invite_code_not_found"

    def test_platform_user_has_no_own_promoter(
        self, api_as: Any, admin: Any, make_promoter: Make
    ) -> None:
        inviter = make_promoter("王小明", 1)
        response = api_as(admin).post(
            "/api/v1/promoters/me/bind", json={"invite_code": inviter.invite_code}
        )
        assert response.status_code == 403
        assert response.json()["error"] == "not_a_promoter"


class TestBindInH5:
    def test_form_binds_and_redirects_to_me(
        self, client: ConsoleClient, database: Database, make_promoter: Make
    ) -> None:
        inviter = make_promoter("王小明", 1)
        loner = make_promoter("李四", 2)
        client.login(loner.phone)
        form = client.get("/h5/bind")
        assert form.status_code == 200
        assert "先绑定者优先" in form.text
        response = client.submit("/h5/bind", {"invite_code": inviter.invite_code})
        assert response.status_code == 303
        assert response.headers["location"] == "/h5/me"
        assert "已绑定邀请人 王小明" in client.get("/h5/me").text
        assert inviter_of(database, loner.id) == inviter.id

    def test_refusal_is_shown_on_the_form_in_chinese(
        self, client: ConsoleClient, database: Database, make_promoter: Make
    ) -> None:
        a = make_promoter("甲", 1)
        b = make_promoter("乙", 2, inviter=a)
        client.login(a.phone)
        response = client.submit("/h5/bind", {"invite_code": b.invite_code})
        assert response.status_code == 409
        assert "形成循环" in response.text
        assert 'data-testid="bind-error"' in response.text
        assert inviter_of(database, a.id) is None
        assert count_rows(database, PromoterBinding) == 1
