"""The console navigation: grouped, and every link leads to a page the role may open."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.models import Role
from siyu.web.nav import console_nav
from tests.conftest import ConsoleClient


def hrefs(role: Role) -> list[str]:
    return [href for _group, links in console_nav(role) for href, _label in links]


class TestNav:
    def test_groups_have_unique_links(self) -> None:
        for role in Role:
            links = hrefs(role)
            assert len(links) == len(set(links)), role
        assert "/console/users" in hrefs(Role.ADMIN)
        assert "/console/users" not in hrefs(Role.OPERATOR)
        assert "/console/merchants" not in hrefs(Role.MERCHANT)
        assert "/console/withdrawals" not in hrefs(Role.PROMOTER)

    @pytest.mark.parametrize("role", [Role.ADMIN])
    def test_every_link_opens(self, client: ConsoleClient, admin: Any, role: Role) -> None:
        client.login("admin")
        page = client.get("/console")
        for group, links in console_nav(role):
            if group:
                assert f">{group}</li>" in page.text
            for href, label in links:
                assert f'href="{href}"' in page.text
                assert label in page.text
                response = client.get(href)
                assert response.status_code == 200, (href, response.status_code)
