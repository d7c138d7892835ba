"""The poster API and console pages: preview PNGs for the campaign builder, validation with the
copy's compliance findings, background uploads; who may use them."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest
from PIL import Image

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.models import Merchant, MerchantStatus, Role
from siyu.posters import fonts, service
from tests.conftest import ConsoleClient
from tests.posters.conftest import decode_qr, open_png

TEMPLATE = {
    "title": "免费领取拉杆箱",
    "text": "邀请 3 位新朋友添加即可领取。",
    "background": "#c0392b",
}


@pytest.fixture(autouse=True)
def _font_and_cache() -> Any:
    fonts.forget()
    service.static_cache.clear()
    try:
        fonts.faces()
    except fonts.PosterFontMissing:
        pytest.skip("no CJK font installed: apt-get install fonts-noto-cjk (scripts/setup does)")
    yield
    service.static_cache.clear()


def merchant_user(database: Database, make_user: Any) -> Principal:
    with database.sessions() as session:
        merchant = Merchant(name="行者箱包", contact_name="", status=MerchantStatus.ACTIVE)
        session.add(merchant)
        session.commit()
        merchant_id = merchant.id
    principal: Principal = make_user(Role.MERCHANT, "brand", merchant_id=merchant_id)
    return principal


class TestPreviewApi:
    def test_admin_gets_a_png_with_the_sample_link(self, api_as: Any, admin: Principal) -> None:
        response = api_as(admin).post(
            "/api/v1/posters/preview", json={"template": TEMPLATE, "nickname": "小明"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "no-store"
        image = open_png(response.content)
        assert image.size == (1080, 1920)
        assert decode_qr(image) == [service.SAMPLE_QR_URL]

    def test_a_given_link_is_encoded(self, api_as: Any, admin: Principal) -> None:
        url = "http://127.0.0.1:8000/c/abc?state=xyz"
        response = api_as(admin).post(
            "/api/v1/posters/preview", json={"template": {}, "qr_url": url}
        )
        assert decode_qr(open_png(response.content)) == [url]

    def test_merchant_may_preview(self, api_as: Any, database: Database, make_user: Any) -> None:
        brand = merchant_user(database, make_user)
        response = api_as(brand).post("/api/v1/posters/preview", json={"template": TEMPLATE})
        assert response.status_code == 200

    def test_promoter_may_not(self, api_as: Any, make_promoter: Any) -> None:
        kol = make_promoter("甲", 1)
        response = api_as(kol.principal).post("/api/v1/posters/preview", json={"template": {}})
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"

    def test_anonymous_may_not(self, client: ConsoleClient) -> None:
        assert client.post("/api/v1/posters/preview", json={}).status_code == 401

    def test_bad_template(self, api_as: Any, admin: Principal) -> None:
        response = api_as(admin).post(
            "/api/v1/posters/preview", json={"template": {"qr": {"x": 0, "y": 0, "size": 50}}}
        )
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "poster_template_invalid"
        assert "qr.size: Input should be greater than or equal to 200" in body["detail"]
        assert body["detail_zh"].startswith("海报模板有误")


class TestValidateApi:
    def test_normalised_template_and_findings(self, api_as: Any, admin: Principal) -> None:
        response = api_as(admin).post(
            "/api/v1/posters/validate",
            json={"title": "转发后领取拉杆箱", "background": "#FFF", "qr": {"x": 700, "y": 1420}},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["template"]["background"] == "#ffffff"
        assert body["template"]["qr"]["size"] == 300
        assert body["publishable"] is False
        assert [f["excerpt"] for f in body["findings"] if f["blocking"]] == ["转发后领取拉杆箱"]

    def test_clean_copy_is_publishable(self, api_as: Any, admin: Principal) -> None:
        body = api_as(admin).post("/api/v1/posters/validate", json=TEMPLATE).json()
        assert (body["publishable"], body["findings"]) == (True, [])


class TestSchemaApi:
    def test_json_schema(self, api_as: Any, admin: Principal) -> None:
        schema = api_as(admin).get("/api/v1/posters/schema").json()
        assert schema["title"] == "PosterTemplate"
        assert schema["properties"]["width"]["default"] == 1080
        assert schema["$defs"]["QrBox"]["properties"]["size"]["minimum"] == 200


class TestBackgroundApi:
    def png(self) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), "#123456").save(buffer, format="PNG")
        return buffer.getvalue()

    def test_upload_then_use(self, api_as: Any, admin: Principal) -> None:
        api = api_as(admin)
        response = api.post(
            "/api/v1/posters/backgrounds", files={"file": ("bg.png", self.png(), "image/png")}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["width"], body["height"]) == (64, 48)
        assert re.fullmatch(r"/uploads/poster-[0-9a-f]{24}\.png", body["url"])
        preview = api.post(
            "/api/v1/posters/preview", json={"template": {**TEMPLATE, "background": body["url"]}}
        )
        assert open_png(preview.content).getpixel((3, 3)) == (0x12, 0x34, 0x56)

    def test_not_an_image(self, api_as: Any, admin: Principal, settings: Any) -> None:
        response = api_as(admin).post(
            "/api/v1/posters/backgrounds", files={"file": ("x.png", b"hello", "image/png")}
        )
        assert response.status_code == 422
        assert response.json()["error"] == "poster_background_invalid"
        assert list(settings.upload_dir.iterdir()) == []


class TestConsole:
    def test_designer_page_and_live_preview(self, client: ConsoleClient, admin: Principal) -> None:
        client.login("admin")
        page = client.get("/console/posters")
        assert page.status_code == 200
        assert "海报设计" in page.text
        assert 'hx-post="/console/posters/preview"' in page.text
        fragment = client.post(
            "/console/posters/preview",
            data={"template": '{"title": "转发后领取"}', "nickname": "小明"},
        )
        assert fragment.status_code == 200
        assert 'data-testid="poster-findings"' in fragment.text
        assert "转发后领取" in fragment.text
        encoded = re.search(r'src="data:image/png;base64,([^"]+)"', fragment.text)
        assert encoded is not None
        assert open_png(base64.b64decode(encoded.group(1))).size == (1080, 1920)

    def test_fragment_shows_errors_escaped(self, client: ConsoleClient, admin: Principal) -> None:
        client.login("admin")
        fragment = client.post(
            "/console/posters/preview", data={"template": '{"background": "<b>x</b>"}'}
        )
        assert 'data-testid="poster-error"' in fragment.text
        assert "<b>x</b>" not in fragment.text
        assert "&lt;b&gt;x&lt;/b&gt;" in fragment.text

    def test_fragment_rejects_broken_json(self, client: ConsoleClient, admin: Principal) -> None:
        client.login("admin")
        fragment = client.post("/console/posters/preview", data={"template": "{"})
        assert "模板不是有效的 JSON 对象" in fragment.text

    def test_preview_png_url(self, client: ConsoleClient, admin: Principal) -> None:
        client.login("admin")
        response = client.get(
            "/console/posters/preview.png",
            params={"template": '{"title": "双十一"}', "nickname": "阿花"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert decode_qr(open_png(response.content)) == [service.SAMPLE_QR_URL]

    def test_background_upload(
        self, client: ConsoleClient, admin: Principal, settings: Any
    ) -> None:
        client.login("admin")
        buffer = io.BytesIO()
        Image.new("RGB", (40, 30), "#abcdef").save(buffer, format="JPEG")
        fragment = client.post(
            "/console/posters/backgrounds",
            data={"csrf_token": client.csrf()},
            files={"file": ("bg.jpg", buffer.getvalue(), "image/jpeg")},
        )
        assert fragment.status_code == 200
        assert 'data-testid="background-uploaded"' in fragment.text
        assert "已上传 40×30" in fragment.text
        names = [path.name for path in settings.upload_dir.iterdir()]
        assert len(names) == 1
        assert f'data-background="/uploads/{names[0]}"' in fragment.text

    def test_background_upload_refused(
        self, client: ConsoleClient, admin: Principal, settings: Any
    ) -> None:
        client.login("admin")
        fragment = client.post(
            "/console/posters/backgrounds",
            data={"csrf_token": client.csrf()},
            files={"file": ("x.txt", b"hello", "text/plain")},
        )
        assert 'data-testid="background-error"' in fragment.text
        assert list(settings.upload_dir.iterdir()) == []

    def test_background_upload_needs_csrf(
        self, client: ConsoleClient, admin: Principal, settings: Any
    ) -> None:
        client.login("admin")
        response = client.post(
            "/console/posters/backgrounds",
            data={"csrf_token": "forged"},
            files={"file": ("bg.png", b"x", "image/png")},
        )
        assert response.status_code == 403
        assert list(settings.upload_dir.iterdir()) == []

    def test_promoter_is_refused(self, client: ConsoleClient, make_promoter: Any) -> None:
        make_promoter("甲", 1)
        client.login("13800000001")
        assert client.get("/console/posters").status_code == 403

    def test_login_required(self, client: ConsoleClient) -> None:
        response = client.get("/console/posters", follow_redirects=False)
        assert response.status_code == 303
