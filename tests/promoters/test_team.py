"""Team view: L1 and L2 only (never L3), own team only for promoters, any team for platform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siyu.db import Database
from siyu.models import Role
from tests.conftest import ConsoleClient
from tests.promoters.conftest import MadePromoter

Make = Callable[..., MadePromoter]


def four_levels(make_promoter: Make) -> tuple[MadePromoter, ...]:
    """A recruits B1 and B2; B1 recruits C1 and C2; C1 recruits D (A's L3)."""
    a = make_promoter("甲", 1)
    b1 = make_promoter("乙一", 2, inviter=a)
    b2 = make_promoter("乙二", 3, inviter=a)
    c1 = make_promoter("丙一", 4, inviter=b1)
    c2 = make_promoter("丙二", 5, inviter=b1)
    d = make_promoter("丁", 6, inviter=c1)
    return a, b1, b2, c1, c2, d


def ids_in(team: dict[str, Any]) -> set[int]:
    found = set()
    for member in team["members"]:
        found.add(member["promoter"]["id"])
        found.update(recruit["id"] for recruit in member["recruits"])
    return found


class TestTeamApi:
    def test_two_levels_with_counts(self, api_as: Any, make_promoter: Make) -> None:
        a, b1, b2, c1, c2, _d = four_levels(make_promoter)
        team = api_as(a.principal).get("/api/v1/promoters/me/team").json()
        assert team["promoter_id"] == a.id
        assert (team["direct_recruit_count"], team["second_level_count"]) == (2, 2)
        members = {member["promoter"]["id"]: member for member in team["members"]}
        assert set(members) == {b1.id, b2.id}
        assert members[b1.id]["recruit_count"] == 2
        assert [r["id"] for r in members[b1.id]["recruits"]] == [c1.id, c2.id]
        assert members[b2.id]["recruit_count"] == 0
        assert members[b2.id]["recruits"] == []

    def test_l3_never_appears(self, api_as: Any, make_promoter: Make) -> None:
        a, b1, b2, c1, c2, d = four_levels(make_promoter)
        response = api_as(a.principal).get("/api/v1/promoters/me/team")
        assert ids_in(response.json()) == {b1.id, b2.id, c1.id, c2.id}
        assert d.id not in ids_in(response.json())
        assert "丁" not in response.text
        assert "138****0006" not in response.text

    def test_platform_sees_any_team(self, api_as: Any, admin: Any, make_promoter: Make) -> None:
        _a, b1, _b2, c1, c2, d = four_levels(make_promoter)
        team = api_as(admin).get(f"/api/v1/promoters/{b1.id}/team").json()
        assert ids_in(team) == {c1.id, c2.id, d.id}
        assert (team["direct_recruit_count"], team["second_level_count"]) == (2, 1)

    def test_promoter_sees_own_team_by_id(self, api_as: Any, make_promoter: Make) -> None:
        a, *_rest = four_levels(make_promoter)
        response = api_as(a.principal).get(f"/api/v1/promoters/{a.id}/team")
        assert response.status_code == 200

    def test_another_promoters_team_and_detail_are_404(
        self, api_as: Any, make_promoter: Make
    ) -> None:
        a, b1, *_rest = four_levels(make_promoter)
        api = api_as(b1.principal)
        for url in (f"/api/v1/promoters/{a.id}/team", f"/api/v1/promoters/{a.id}"):
            response = api.get(url)
            assert response.status_code == 404
            assert response.json()["error"] == "promoter_not_found"
        assert api.get("/api/v1/promoters").status_code == 403

    def test_merchant_cannot_see_teams(
        self, api_as: Any, make_user: Any, make_promoter: Make, database: Database
    ) -> None:
        from siyu.models import Merchant

        a = make_promoter("甲", 1)
        with database.sessions() as session:
            merchant = Merchant(name="品牌方")
            session.add(merchant)
            session.commit()
            merchant_id = merchant.id
        merchant_user = make_user(Role.MERCHANT, "brand", merchant_id=merchant_id)
        assert api_as(merchant_user).get(f"/api/v1/promoters/{a.id}/team").status_code == 404

    def test_me_reports_counts_and_invite_link(
        self, api_as: Any, settings: Any, make_promoter: Make
    ) -> None:
        a, *_rest = four_levels(make_promoter)
        me = api_as(a.principal).get("/api/v1/promoters/me").json()
        assert me["direct_recruit_count"] == 2
        assert me["team_size"] == 4
        assert me["invite_link"] == f"http://127.0.0.1:8000/join/{a.invite_code}"
        assert me["phone_masked"] == "138****0001"


def item(text: str, promoter_id: int) -> str:
    """The HTML of one L1 item of the team tree, up to the next L1 item or the tree's end."""
    start = text.index(f'data-testid="l1-{promoter_id}"')
    end = text.find('data-testid="l1-', start + 1)
    return text[start : end if end != -1 else text.index('data-testid="binding-history"')]


class TestTeamConsole:
    def test_tree_nests_l2_under_l1_and_hides_l3(
        self, client: ConsoleClient, admin: Any, make_promoter: Make
    ) -> None:
        a, b1, b2, c1, c2, d = four_levels(make_promoter)
        client.login("admin")
        page = client.get(f"/console/promoters/{a.id}")
        assert page.status_code == 200
        text = page.text
        for member in (b1, b2, c1, c2):
            assert member.name in text
        assert f'data-testid="l1-{b1.id}"' in text
        assert f'data-testid="l2-{c1.id}"' in text
        assert "丁" not in text
        assert f"/console/promoters/{d.id}" not in text
        # Newest L1 first; C1 and C2 are nested in B1's item, B2's item holds nobody.
        b2_item = item(text, b2.id)
        b1_item = item(text, b1.id)
        assert text.index(b2_item) < text.index(b1_item)
        assert f'data-testid="l2-{c1.id}"' in b1_item
        assert f'data-testid="l2-{c2.id}"' in b1_item
        assert 'data-testid="l2-' not in b2_item

    def test_promoter_opening_another_promoters_console_page_gets_404(
        self, client: ConsoleClient, make_promoter: Make
    ) -> None:
        a, b1, *_rest = four_levels(make_promoter)
        client.login(b1.phone)
        response = client.get(f"/console/promoters/{a.id}")
        assert response.status_code == 404
        assert "找不到该推手" in response.text


class TestTeamH5:
    def test_lists_l1_with_l2_counts_and_l2(
        self, client: ConsoleClient, make_promoter: Make
    ) -> None:
        a, b1, b2, c1, c2, d = four_levels(make_promoter)
        client.login(a.phone)
        page = client.get("/h5/team")
        assert page.status_code == 200
        assert f'data-testid="l1-count-{b1.id}">2<' in page.text
        assert f'data-testid="l1-count-{b2.id}">0<' in page.text
        assert f'data-testid="l2-{c1.id}"' in page.text
        assert f'data-testid="l2-{c2.id}"' in page.text
        assert f'data-testid="l2-{d.id}"' not in page.text
        assert "由 乙一 邀请" in page.text
        assert 'data-testid="team-direct">2<' in page.text
        assert 'data-testid="team-second">2<' in page.text
        assert "丁" not in page.text
