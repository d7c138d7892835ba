"""Promoter H5 pages: me, invite (link and QR PNG), access for other roles."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image

from siyu.kit.qr import qr_png
from siyu.models import Role
from siyu.web import h5_pages
from tests.conftest import ConsoleClient
from tests.promoters.conftest import MadePromoter

Make = Callable[..., MadePromoter]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class TestMePage:
    def test_shows_name_grade_status_code_and_counts(
        self, client: ConsoleClient, make_promoter: Make
    ) -> None:
        me = make_promoter("王小明", 1)
        recruit = make_promoter("李四", 2, inviter=me)
        make_promoter("赵六", 3, inviter=recruit)
        client.login(me.phone)
        page = client.get("/h5/me")
        assert page.status_code == 200
        text = page.text
        assert 'data-testid="me-name">王小明<' in text
        assert 'data-testid="me-grade">普通<' in text
        assert 'data-testid="me-status">正常<' in text
        assert f'data-testid="me-invite-code">{me.invite_code}<' in text
        assert 'data-testid="me-direct">1<' in text
        assert 'data-testid="me-second">1<' in text
        assert 'data-testid="me-team">2<' in text
        assert "138****0001" in text
        assert "13800000001" not in text
        assert 'href="/h5/invite"' in text  # bottom tabs

    def test_login_redirects_promoter_to_me(
        self, client: ConsoleClient, make_promoter: Make
    ) -> None:
        me = make_promoter("王小明", 1)
        response = client.login(me.phone)
        assert response.headers["location"] == "/h5/me"

    def test_anonymous_is_sent_to_login(self, client: ConsoleClient) -> None:
        response = client.get("/h5/me", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/h5/me"


class TestOtherRolesGetChineseError:
    def test_admin_on_every_h5_page(self, client: ConsoleClient, admin: Any) -> None:
        client.login("admin")
        for url in ("/h5/me", "/h5/invite", "/h5/invite/qr.png", "/h5/team", "/h5/bind"):
            response = client.get(url)
            assert response.status_code == 403, url
            assert "此功能仅供推手使用" in response.text
            assert 'href="/h5/team"' not in response.text  # no promoter tabs for non-promoters

    def test_merchant_cannot_bind(
        self, client: ConsoleClient, make_user: Any, database: Any
    ) -> None:
        from siyu.models import Merchant

        with database.sessions() as session:
            merchant = Merchant(name="品牌方")
            session.add(merchant)
            session.commit()
            merchant_id = merchant.id
        make_user(Role.MERCHANT, "brand", merchant_id=merchant_id)
        client.login("brand")
        response = client.submit("/h5/bind", {"invite_code": "ABCDEFGH"})
        assert response.status_code == 403
        assert "此功能仅供推手使用" in response.text


class TestInvitePage:
    def test_shows_code_link_and_qr(
        self, client: ConsoleClient, settings: Any, make_promoter: Make
    ) -> None:
        settings.base_url = "https://siyu.example.cn"
        me = make_promoter("王小明", 1)
        client.login(me.phone)
        page = client.get("/h5/invite")
        assert page.status_code == 200
        assert f'data-testid="invite-code">{me.invite_code}<' in page.text
        assert f'value="https://siyu.example.cn/join/{me.invite_code}"' in page.text
        assert 'src="/h5/invite/qr.png"' in page.text

    def test_qr_png_encodes_the_invite_link(
        self, client: ConsoleClient, settings: Any, make_promoter: Make, monkeypatch: Any
    ) -> None:
        settings.base_url = "https://siyu.example.cn/"
        me = make_promoter("王小明", 1)
        link = f"https://siyu.example.cn/join/{me.invite_code}"
        encoded: list[str] = []

        def recording_qr_png(data: str, box_size: int = 8) -> bytes:
            encoded.append(data)
            return qr_png(data, box_size)

        monkeypatch.setattr(h5_pages, "qr_png", recording_qr_png)
        client.login(me.phone)
        response = client.get("/h5/invite/qr.png")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert encoded == [link]
        # No QR decoder is installed (zxing-cpp/pyzbar): the same generator on the same link
        # must give the same bytes, and the bytes must be a real, square PNG.
        assert response.content == qr_png(link)
        assert response.content.startswith(PNG_MAGIC)
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG"
        assert image.width == image.height
        assert image.width >= 200
