from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.models import PromoterKind, PromoterStatus


class SignupIn(BaseModel):
    """Public sign-up (H5 join page, API). Phone and password are checked by the service so the
    person gets a Chinese message saying what to fix."""

    model_config = ConfigDict(extra="forbid")

    invite_code: str | None = Field(default=None, max_length=16)
    name: str = Field(max_length=50)
    phone: str = Field(max_length=32)
    password: str = Field(max_length=128)


class PromoterCreate(BaseModel):
    """A promoter created by platform staff, the demo loader or the CLI (with its login)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=50)
    phone: str = Field(max_length=32)
    password: str = Field(max_length=128)
    kind: PromoterKind = PromoterKind.INDIVIDUAL
    region: str = Field(default="", max_length=64)
    invite_code: str | None = Field(default=None, max_length=16)


class BindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite_code: str = Field(min_length=1, max_length=16)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500)


class GradeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=32)
    min_direct_recruits: int | None = Field(default=None, ge=0, le=10_000_000)
    min_team_size: int | None = Field(default=None, ge=0, le=10_000_000)
    min_gmv_fen: int | None = Field(default=None, ge=0, description="fen")


class GradeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    level: int
    min_direct_recruits: int
    min_team_size: int
    min_gmv_fen: int = Field(description="fen")


class PromoterBrief(BaseModel):
    id: int
    name: str
    phone_masked: str
    status: PromoterStatus
    grade_name: str
    created_at: datetime


class PromoterOut(BaseModel):
    id: int
    name: str
    kind: PromoterKind
    phone_masked: str = Field(description="138****0000; the full number is never returned")
    invite_code: str
    inviter_id: int | None
    inviter_name: str | None
    grade: GradeOut
    status: PromoterStatus
    frozen_reason: str | None
    region: str
    created_at: datetime


class PromoterMeOut(PromoterOut):
    invite_link: str
    direct_recruit_count: int
    team_size: int = Field(description="L1 + L2")


class SignupOut(BaseModel):
    """The login's username is the phone typed at sign-up; it is not echoed back."""

    promoter: PromoterOut
    user_id: int


class TeamMemberOut(BaseModel):
    promoter: PromoterBrief
    recruit_count: int = Field(description="this L1's direct recruits (the owner's L2)")
    recruits: list[PromoterBrief] = Field(description="L2; never deeper")


class TeamOut(BaseModel):
    promoter_id: int
    direct_recruit_count: int
    second_level_count: int
    page: int
    pages: int
    members: list[TeamMemberOut] = Field(description="L1 recruits, one page")


class PromoterPageOut(BaseModel):
    items: list[PromoterOut]
    total: int
    page: int
    pages: int
