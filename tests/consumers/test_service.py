"""Consumers: find-or-create by phone / union id, binding per mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from siyu.consumers import service
from siyu.db import Database
from siyu.kit.crypto import PhoneInvalid
from siyu.models import Consumer, Promoter
from siyu.models.promoters import BindingMode
from tests.conftest import count_rows
from tests.promoters.conftest import MadePromoter, make_promoter  # noqa: F401  (fixture)


class TestFindOrCreate:
    def test_phone_is_encrypted_and_found_again(self, session: Session, database: Database) -> None:
        first = service.find_or_create(session, service.ConsumerIdentity(phone="13800001111"))
        again = service.find_or_create(
            session, service.ConsumerIdentity(phone="+86 138-0000-1111", nickname="阿明")
        )
        session.commit()
        assert again.id == first.id
        assert again.nickname == "阿明"
        assert first.phone_encrypted
        assert "13800001111" not in first.phone_encrypted
        assert service.masked_phone(first) == "138****1111"
        assert count_rows(database, Consumer) == 1

    def test_union_id(self, session: Session) -> None:
        first = service.find_or_create(session, service.ConsumerIdentity(union_id="o6_abc"))
        again = service.find_or_create(session, service.ConsumerIdentity(union_id="o6_abc"))
        assert again.id == first.id
        assert service.masked_phone(first) == "—"

    def test_identity_required(self, session: Session) -> None:
        with pytest.raises(service.ConsumerIdentityRequired):
            service.find_or_create(session, service.ConsumerIdentity())

    def test_bad_phone(self, session: Session) -> None:
        with pytest.raises(PhoneInvalid):
            service.find_or_create(session, service.ConsumerIdentity(phone="12345"))


class TestBinding:
    @pytest.mark.parametrize(
        ("mode", "is_new", "already_bound", "expected"),
        [
            (BindingMode.FIRST_BIND_WINS, False, False, "candidate"),
            (BindingMode.FIRST_BIND_WINS, True, True, "first"),
            (BindingMode.NEW_USERS_ONLY, False, False, None),
            (BindingMode.NEW_USERS_ONLY, True, False, "candidate"),
            (BindingMode.OVERRIDE, False, True, "candidate"),
        ],
    )
    def test_modes(
        self,
        session: Session,
        make_promoter: Callable[..., MadePromoter],  # noqa: F811
        mode: BindingMode,
        is_new: bool,
        already_bound: bool,
        expected: str | None,
    ) -> None:
        first = make_promoter("甲", 1)
        candidate = make_promoter("乙", 2)
        consumer = service.find_or_create(session, service.ConsumerIdentity(phone="13800001111"))
        if already_bound:
            consumer.bound_promoter_id = first.id
        promoter = session.get(Promoter, candidate.id)
        service.update_binding(
            session,
            consumer,
            mode=mode,
            candidate=promoter,
            consumer_is_new=is_new,
            buyer_promoter=None,
            source="test",
        )
        wanted = {"candidate": candidate.id, "first": first.id, None: None}[expected]
        assert consumer.bound_promoter_id == wanted

    def test_no_self_binding(
        self,
        session: Session,
        make_promoter: Callable[..., MadePromoter],  # noqa: F811
    ) -> None:
        me = make_promoter("甲", 1)
        consumer = service.find_or_create(session, service.ConsumerIdentity(phone=me.phone))
        assert service.buyer_promoter_id(session, consumer) == me.id
        changed = service.update_binding(
            session,
            consumer,
            mode=BindingMode.OVERRIDE,
            candidate=session.get(Promoter, me.id),
            consumer_is_new=True,
            buyer_promoter=me.id,
            source="test",
        )
        assert (changed, consumer.bound_promoter_id) == (False, None)
