from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from siyu.consumers.service import ConsumerIdentity
from siyu.db import Database
from siyu.models import GroupMember, GroupPurpose, GroupStatus, WechatGroup
from siyu.pool import groups
from siyu.pool.schemas import GroupCodeCreate, GroupCreate
from tests.pool.conftest import make_account


def who(number: int) -> ConsumerIdentity:
    return ConsumerIdentity(union_id=f"g-{number}")


def make_group_code(database: Database, capacity: int, max_groups: int = 100) -> str:
    with database.sessions() as session:
        account = make_account(session, "福利官")
        group_code = groups.create_group_code(
            session,
            None,
            GroupCodeCreate(
                account_id=account.id,
                name="双十一券群",
                name_template="双十一内购优惠券群{n}",
                capacity=capacity,
                max_groups=max_groups,
            ),
        )
        session.commit()
        return group_code.code


class TestGroups:
    def test_capacity_by_creator(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            ours = groups.create_group(
                session,
                None,
                GroupCreate(account_id=account.id, name="VIP", purpose=GroupPurpose.VIP),
            )
            theirs = groups.create_group(
                session,
                None,
                GroupCreate(account_id=account.id, name="用户群", created_by_wechat_user=True),
            )
            assert (ours.capacity, theirs.capacity) == (500, 200)

    def test_fills_in_order_and_rolls_over(self, database: Database) -> None:
        code = make_group_code(database, capacity=2)
        with database.sessions() as session:
            results = [groups.join_by_code(session, code, who(n)) for n in range(5)]
            session.commit()
            names = [r.group.name for r in results if r.group]
            assert names == ["双十一内购优惠券群1"] * 2 + ["双十一内购优惠券群2"] * 2 + [
                "双十一内购优惠券群3"
            ]
            again = groups.join_by_code(session, code, who(0))
            assert again.outcome == "already_member"
            rows = session.scalars(select(WechatGroup).order_by(WechatGroup.sequence)).all()
            assert [(g.members_count, g.status) for g in rows] == [
                (2, GroupStatus.FULL),
                (2, GroupStatus.FULL),
                (1, GroupStatus.OPEN),
            ]

    def test_leave_reopens_and_history_kept(self, database: Database) -> None:
        code = make_group_code(database, capacity=1)
        with database.sessions() as session:
            first = groups.join_by_code(session, code, who(1))
            assert first.group is not None
            assert first.member is not None
            assert groups.leave(session, first.group.id, first.member.consumer_id) is True
            assert groups.leave(session, first.group.id, first.member.consumer_id) is False
            rejoin = groups.join_by_code(session, code, who(1))
            assert rejoin.group is not None
            assert rejoin.group.id == first.group.id
            members = session.scalars(select(GroupMember).order_by(GroupMember.id)).all()
            assert len(members) == 2
            assert members[0].left_at is not None
            assert members[1].left_at is None

    def test_max_groups_then_full(self, database: Database) -> None:
        code = make_group_code(database, capacity=1, max_groups=2)
        with database.sessions() as session:
            outcomes = [groups.join_by_code(session, code, who(n)).outcome for n in range(3)]
            assert outcomes == ["joined", "joined", "full"]

    def test_unknown_code(self, database: Database) -> None:
        with database.sessions() as session, pytest.raises(groups.GroupCodeNotFound):
            groups.join_by_code(session, "nope", who(1))


class TestConcurrentJoins:
    def test_never_over_capacity(self, database: Database) -> None:
        code = make_group_code(database, capacity=5, max_groups=4)
        workers = 10
        barrier = threading.Barrier(workers)

        def run(offset: int) -> list[str]:
            barrier.wait()
            outcomes = []
            for number in range(offset, 30, workers):
                for _attempt in range(20):
                    try:
                        with database.sessions() as session:
                            result = groups.join_by_code(session, code, who(number))
                            session.commit()
                        outcomes.append(result.outcome)
                        break
                    except Exception as error:
                        if "deadlock" not in str(error).lower():
                            raise
            return outcomes

        with ThreadPoolExecutor(max_workers=workers) as executor:
            outcomes = [o for chunk in executor.map(run, range(workers)) for o in chunk]
        assert outcomes.count("joined") == 20
        assert outcomes.count("full") == 10
        with database.sessions() as session:
            rows = session.scalars(select(WechatGroup).order_by(WechatGroup.sequence)).all()
            assert [g.members_count for g in rows] == [5, 5, 5, 5]
            present = session.scalar(
                select(func.count()).select_from(GroupMember).where(GroupMember.left_at.is_(None))
            )
            assert present == 20
