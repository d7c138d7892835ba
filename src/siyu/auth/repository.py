from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.models import ApiToken, Role, User


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def get_by_username(self, username: str) -> User | None:
        return self.session.scalar(select(User).where(User.username == username))

    def get_by_promoter(self, promoter_id: int) -> User | None:
        return self.session.scalar(select(User).where(User.promoter_id == promoter_id))

    def add(self, user: User) -> User:
        self.session.add(user)
        self.session.flush()
        return user

    def list(self, page: PageRequest, role: Role | None = None, query: str = "") -> Page[User]:
        statement = select(User)
        if role is not None:
            statement = statement.where(User.role == role)
        if query:
            like = f"%{query}%"
            statement = statement.where(User.username.ilike(like) | User.display_name.ilike(like))
        total = self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        items = self.session.scalars(
            statement.order_by(User.id).offset(page.offset).limit(page.size)
        ).all()
        return Page(list(items), total, page)

    def count_by_role(self) -> dict[Role, int]:
        rows = self.session.execute(select(User.role, func.count()).group_by(User.role)).all()
        return {role: count for role, count in rows}


class ApiTokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, api_token: ApiToken) -> ApiToken:
        self.session.add(api_token)
        self.session.flush()
        return api_token

    def get_active_by_hash(self, token_hash: str) -> ApiToken | None:
        return self.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        )

    def list_for_user(self, user_id: int) -> list[ApiToken]:
        return list(
            self.session.scalars(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
            )
        )

    def get_for_user(self, token_id: int, user_id: int) -> ApiToken | None:
        return self.session.scalar(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
        )
