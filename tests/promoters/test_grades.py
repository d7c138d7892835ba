"""Grades: seeded defaults, admin edits, upgrade jobs (upgrade only, audited, idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from siyu.db import Database
from siyu.jobs import JobQueue, registered_jobs
from siyu.models import AuditEvent, PromoterGrade, Role
from siyu.promoters import service, tasks
from tests.conftest import PASSWORD, ConsoleClient, count_rows
from tests.promoters.conftest import MadePromoter, audit_events, load, phone_for

Make = Callable[..., MadePromoter]


def grade_id(database: Database, code: str) -> int:
    with database.sessions() as session:
        found = session.scalar(select(PromoterGrade.id).where(PromoterGrade.code == code))
        assert found is not None
        return found


def set_conditions(database: Database, code: str, direct: int, team: int, gmv: int = 0) -> None:
    with database.sessions() as session:
        service.ensure_default_grades(session)
        grade = session.scalar(select(PromoterGrade).where(PromoterGrade.code == code))
        assert grade is not None
        grade.min_direct_recruits, grade.min_team_size, grade.min_gmv_fen = direct, team, gmv
        session.commit()


class TestDefaultGrades:
    def test_seeds_three_grades_once(self, database: Database) -> None:
        with database.sessions() as session:
            entry = service.ensure_default_grades(session)
            again = service.ensure_default_grades(session)
            session.commit()
            assert entry.id == again.id
            rows = [
                (g.code, g.name, g.level, g.min_direct_recruits, g.min_team_size, g.min_gmv_fen)
                for g in service.list_grades(session, None)
            ]
        assert rows == [
            ("normal", "普通", 0, 0, 0, 0),
            ("silver", "银牌", 1, 5, 10, 0),
            ("gold", "金牌", 2, 20, 50, 0),
        ]

    def test_api_lists_grades_for_any_signed_in_user(
        self, api_as: Any, make_promoter: Make
    ) -> None:
        promoter = make_promoter("甲", 1)
        response = api_as(promoter.principal).get("/api/v1/promoter-grades")
        assert [g["code"] for g in response.json()] == ["normal", "silver", "gold"]


class TestEditGrades:
    def test_admin_patches_conditions_and_it_is_audited(
        self, api_as: Any, admin: Any, database: Database
    ) -> None:
        api = api_as(admin)
        silver = next(g for g in api.get("/api/v1/promoter-grades").json() if g["code"] == "silver")
        response = api.patch(
            f"/api/v1/promoter-grades/{silver['id']}",
            json={"name": "白银", "min_direct_recruits": 3, "min_gmv_fen": 500_00},
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["name"], body["min_direct_recruits"], body["min_team_size"]) == ("白银", 3, 10)
        assert body["min_gmv_fen"] == 500_00
        [event] = audit_events(database, "promoter_grade.updated")
        assert event.detail == {
            "changes": {
                "name": ["银牌", "白银"],
                "min_direct_recruits": [5, 3],
                "min_gmv_fen": [0, 500_00],
            }
        }

    def test_negative_or_float_values_are_refused(
        self, api_as: Any, admin: Any, database: Database
    ) -> None:
        api = api_as(admin)
        silver_id = api.get("/api/v1/promoter-grades").json()[1]["id"]
        for body in ({"min_team_size": -1}, {"min_gmv_fen": 1.5}):
            assert api.patch(f"/api/v1/promoter-grades/{silver_id}", json=body).status_code == 422
        assert count_rows(database, AuditEvent) == 0

    def test_operator_cannot_edit(self, api_as: Any, make_user: Any, database: Database) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        api = api_as(operator)
        silver_id = api.get("/api/v1/promoter-grades").json()[1]["id"]
        response = api.patch(f"/api/v1/promoter-grades/{silver_id}", json={"min_team_size": 1})
        assert response.status_code == 403

    def test_console_edit_with_yuan(
        self, client: ConsoleClient, admin: Any, database: Database
    ) -> None:
        client.login("admin")
        page = client.get("/console/grades")
        assert page.status_code == 200
        assert 'data-testid="grade-form-gold"' in page.text
        gold = grade_id(database, "gold")
        response = client.submit(
            f"/console/grades/{gold}",
            {
                "name": "黄金",
                "min_direct_recruits": "8",
                "min_team_size": "30",
                "min_gmv_yuan": "1,000.50",
            },
        )
        assert response.status_code == 303
        assert "已保存等级“黄金”的升级条件" in client.get("/console/grades").text
        with database.sessions() as session:
            grade = session.get(PromoterGrade, gold)
            assert grade is not None
            assert (grade.name, grade.min_direct_recruits, grade.min_team_size) == ("黄金", 8, 30)
            assert grade.min_gmv_fen == 100050

    def test_console_bad_number_flashes_and_changes_nothing(
        self, client: ConsoleClient, admin: Any, database: Database
    ) -> None:
        client.login("admin")
        client.get("/console/grades")
        gold = grade_id(database, "gold")
        response = client.submit(
            f"/console/grades/{gold}",
            {
                "name": "黄金",
                "min_direct_recruits": "-3",
                "min_team_size": "30",
                "min_gmv_yuan": "0",
            },
        )
        assert response.status_code == 303
        assert "保存失败" in client.get("/console/grades").text
        with database.sessions() as session:
            grade = session.get(PromoterGrade, gold)
            assert grade is not None
            assert (grade.name, grade.min_direct_recruits) == ("金牌", 20)


class TestUpgradeJob:
    def test_signups_upgrade_the_inviter_after_the_queue_runs(
        self,
        client: ConsoleClient,
        database: Database,
        queue: JobQueue,
        make_promoter: Make,
    ) -> None:
        set_conditions(database, "silver", direct=2, team=2)
        inviter = make_promoter("王小明", 1)
        for number in (2, 3):
            joiner = client.__class__(client.app, base_url="http://testserver")
            joiner.submit(
                "/join",
                {
                    "invite_code": inviter.invite_code,
                    "name": f"新人{number}",
                    "phone": phone_for(number),
                    "password": PASSWORD,
                },
            )
        assert load(database, inviter.id).grade.code == "normal"  # nothing before the jobs run
        queue.run_pending()
        assert load(database, inviter.id).grade.code == "silver"
        [event] = audit_events(database, "promoter.grade_upgraded")
        assert event.object_id == inviter.id
        assert event.actor_user_id is None
        assert event.detail == {
            "from_grade": "normal",
            "to_grade": "silver",
            "direct_recruits": 2,
            "team_size": 2,
        }

    def test_l2_signup_counts_for_the_top_promoter(
        self, database: Database, queue: JobQueue, make_promoter: Make
    ) -> None:
        set_conditions(database, "silver", direct=1, team=3)
        top = make_promoter("顶层", 1)
        middle = make_promoter("中层", 2, inviter=top)
        make_promoter("新人甲", 3, inviter=middle)
        queue.run_pending()
        assert load(database, top.id).grade.code == "normal"
        make_promoter("新人乙", 4, inviter=middle)  # queues middle and top
        queue.run_pending()
        assert load(database, top.id).grade.code == "silver"
        assert load(database, middle.id).grade.code == "normal"  # team of 2

    def test_job_is_idempotent(
        self, database: Database, queue: JobQueue, make_promoter: Make
    ) -> None:
        set_conditions(database, "silver", direct=1, team=1)
        inviter = make_promoter("王小明", 1)
        make_promoter("李四", 2, inviter=inviter)
        queue.run_pending()
        tasks.evaluate_grade(inviter.id)
        tasks.evaluate_grades()
        assert load(database, inviter.id).grade.code == "silver"
        assert len(audit_events(database, "promoter.grade_upgraded")) == 1

    def test_never_downgrades(
        self, database: Database, queue: JobQueue, make_promoter: Make
    ) -> None:
        set_conditions(database, "silver", direct=1, team=1)
        inviter = make_promoter("王小明", 1)
        make_promoter("李四", 2, inviter=inviter)
        queue.run_pending()
        set_conditions(database, "silver", direct=50, team=50)
        tasks.evaluate_grades()
        assert load(database, inviter.id).grade.code == "silver"

    def test_frozen_recruits_do_not_count_and_frozen_promoters_are_not_upgraded(
        self, database: Database, queue: JobQueue, api_as: Any, admin: Any, make_promoter: Make
    ) -> None:
        set_conditions(database, "silver", direct=2, team=2)
        inviter = make_promoter("王小明", 1)
        first = make_promoter("李四", 2, inviter=inviter)
        api = api_as(admin)
        api.post(f"/api/v1/promoters/{first.id}/freeze", json={"reason": "假号"})
        make_promoter("赵六", 3, inviter=inviter)
        queue.run_pending()
        assert load(database, inviter.id).grade.code == "normal"
        api.post(f"/api/v1/promoters/{first.id}/unfreeze", json={"reason": "已核实"})
        api.post(f"/api/v1/promoters/{inviter.id}/freeze", json={"reason": "调查中"})
        tasks.evaluate_grades()
        assert load(database, inviter.id).grade.code == "normal"

    def test_gmv_threshold_is_not_met_until_orders_exist(
        self, database: Database, queue: JobQueue, make_promoter: Make
    ) -> None:
        set_conditions(database, "silver", direct=1, team=1, gmv=1)
        inviter = make_promoter("王小明", 1)
        make_promoter("李四", 2, inviter=inviter)
        queue.run_pending()
        assert load(database, inviter.id).grade.code == "normal"

    def test_daily_job_skips_to_highest_grade_in_batches(
        self, database: Database, queue: JobQueue, make_promoter: Make, monkeypatch: Any
    ) -> None:
        monkeypatch.setattr(tasks, "BATCH_SIZE", 2)
        set_conditions(database, "silver", direct=1, team=1)
        set_conditions(database, "gold", direct=2, team=2)
        leaders = [make_promoter(f"队长{n}", n) for n in range(1, 4)]
        for index, leader in enumerate(leaders):
            make_promoter(f"队员{index}a", 10 + index * 2, inviter=leader)
            make_promoter(f"队员{index}b", 11 + index * 2, inviter=leader)
        queue.huey.flush()  # leave the upgrades to the daily job
        tasks.evaluate_grades()
        assert [load(database, leader.id).grade.code for leader in leaders] == ["gold"] * 3


class TestJobRegistration:
    def test_jobs_are_declared_with_schedule(self) -> None:
        jobs = registered_jobs()
        assert jobs["promoters.evaluate_grade"].schedule is None
        assert jobs["promoters.evaluate_grades"].schedule == {
            "minute": "30",
            "hour": "18",
            "day": "*",
            "day_of_week": "*",
        }
