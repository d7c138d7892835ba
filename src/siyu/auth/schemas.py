from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.models import Role


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    display_name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=128)
    role: Role
    merchant_id: int | None = None
    promoter_id: int | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    merchant_id: int | None
    promoter_id: int | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)


class TokenCreated(BaseModel):
    id: int
    name: str
    prefix: str
    token: str = Field(description="Shown once; only its hash is stored.")


class LoginIn(BaseModel):
    username: str
    password: str


class LoginOut(BaseModel):
    token: str
    user: UserOut
