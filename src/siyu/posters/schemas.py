"""The poster template (``campaign.poster``): what the campaign builder saves and validates.

Coordinates are canvas pixels from the top-left corner. Every box must lie inside the canvas,
no text box may cover the QR code, and the QR code must be big enough to scan from a phone
screen. ``PosterTemplate.model_validate(data)`` raises pydantic's ``ValidationError``;
``siyu.posters.service.validate_template`` turns it into ``PosterTemplateInvalid`` with every
problem listed, in English and Chinese.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from siyu.posters import rules

Color = Annotated[str, AfterValidator(rules.normalise_color)]


def _check_background(value: str) -> str:
    return rules.parse_background(value).canonical


Background = Annotated[str, AfterValidator(_check_background)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextBox(_Strict):
    """A block of text wrapped to ``width`` and cut (with …) to the lines ``height`` holds."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=rules.MIN_TEXT_WIDTH)
    height: int = Field(ge=1)
    size: int = Field(default=48, ge=rules.MIN_FONT_SIZE, le=rules.MAX_FONT_SIZE, description="px")
    color: Color = "#222222"
    align: Literal["left", "center", "right"] = "left"
    bold: bool = False
    line_height_pct: int = Field(default=140, ge=100, le=250)

    @model_validator(mode="after")
    def _one_line_fits(self) -> TextBox:
        if self.height < self.size:
            raise rules.TemplateProblem(
                f"height {self.height} is smaller than the font size {self.size}",
                f"高度 {self.height} 小于字号 {self.size}，一行也放不下",
            )
        return self


class NicknameBox(_Strict):
    """One line: ``format`` with the participant's nickname, shortened with … to ``width``."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(default=600, ge=rules.MIN_TEXT_WIDTH)
    size: int = Field(default=44, ge=rules.MIN_FONT_SIZE, le=rules.MAX_FONT_SIZE)
    color: Color = "#222222"
    align: Literal["left", "center", "right"] = "left"
    bold: bool = True
    format: str = Field(default="{nickname}", min_length=1, max_length=60)

    @model_validator(mode="after")
    def _has_placeholder(self) -> NicknameBox:
        if self.format.count("{nickname}") != 1 or re.search(r"\{(?!nickname\})", self.format):
            raise rules.TemplateProblem(
                "format must contain {nickname} exactly once and no other {…}",
                "格式中须有且只有一个 {nickname}",
            )
        return self

    @property
    def height(self) -> int:
        return rules.line_height(self.size, 130)


class QrBox(_Strict):
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    size: int = Field(default=300, ge=rules.MIN_QR_SIZE, le=2000, description="px, square")
    color: Color = "#000000"
    background: Color = "#ffffff"

    @model_validator(mode="after")
    def _contrast(self) -> QrBox:
        if rules.contrast_ratio(self.color, self.background) < rules.MIN_QR_CONTRAST:
            raise rules.TemplateProblem(
                f"QR colours {self.color} on {self.background} have too little contrast to scan",
                f"二维码颜色 {self.color} 与底色 {self.background} 对比度太低，无法扫码",
            )
        return self


def _default_title_box() -> TextBox:
    return TextBox(x=80, y=220, width=920, height=320, size=96, color="#ffffff", bold=True)


def _default_text_box() -> TextBox:
    return TextBox(x=80, y=600, width=920, height=560, size=48, color="#ffffff")


def _default_nickname() -> NicknameBox:
    return NicknameBox(
        x=80, y=1480, width=560, size=44, color="#ffffff", format="{nickname} 邀请你"
    )


def _default_qr() -> QrBox:
    return QrBox(x=700, y=1420, size=300)


class PosterTemplate(_Strict):
    """A whole poster. ``{}`` is valid: a 1080×1920 layout with default boxes."""

    width: int = Field(default=1080, ge=rules.MIN_CANVAS, le=rules.MAX_CANVAS)
    height: int = Field(default=1920, ge=rules.MIN_CANVAS, le=rules.MAX_CANVAS)
    background: Background = "linear-gradient(#ff5a3c, #ffb36b)"
    title: str = Field(default="", max_length=60)
    text: str = Field(default="", max_length=500)
    title_box: TextBox = Field(default_factory=_default_title_box)
    text_box: TextBox = Field(default_factory=_default_text_box)
    nickname: NicknameBox = Field(default_factory=_default_nickname)
    qr: QrBox = Field(default_factory=_default_qr)

    @model_validator(mode="after")
    def _layout(self) -> PosterTemplate:
        boxes = {
            "title_box": (self.title_box.x, self.title_box.y, self.title_box.width,
                          self.title_box.height),
            "text_box": (self.text_box.x, self.text_box.y, self.text_box.width,
                         self.text_box.height),
            "nickname": (self.nickname.x, self.nickname.y, self.nickname.width,
                         self.nickname.height),
            "qr": (self.qr.x, self.qr.y, self.qr.size, self.qr.size),
        }  # fmt: skip
        problems = rules.layout_problems(self.width, self.height, boxes)
        if problems:
            raise rules.TemplateProblem(
                "; ".join(en for en, _zh in problems), "；".join(zh for _en, zh in problems)
            )
        return self

    def canonical(self) -> dict[str, Any]:
        """The normalised JSON to store in ``campaign.poster`` (defaults filled in)."""
        return self.model_dump(mode="json")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: dict[str, Any] = Field(default_factory=dict)
    nickname: str = Field(default="小私", max_length=100)
    qr_url: str | None = Field(default=None, max_length=500, description="default: a sample URL")


class FindingOut(BaseModel):
    rule_id: str
    category: str
    severity: str  # info | warn | block
    blocking: bool
    message_zh: str
    excerpt: str


class ValidateOut(BaseModel):
    template: dict[str, Any]
    findings: list[FindingOut]
    publishable: bool


class BackgroundOut(BaseModel):
    url: str
    width: int
    height: int
