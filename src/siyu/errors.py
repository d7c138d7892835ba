"""One error hierarchy.

Every expected failure is an ``AppError`` subclass named ``<Thing><Problem>``. Each carries a
machine code and an English message (for the API and logs) and a Chinese message that tells a
person what to do (for the console and H5).
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message_en: ClassVar[str] = "The request could not be processed."
    message_zh: ClassVar[str] = "请求无法处理，请检查后重试。"

    def __init__(self, message_en: str | None = None, message_zh: str | None = None, **params: Any):
        self.params = params
        self.en = (message_en or self.message_en).format(**params)
        self.zh = (message_zh or self.message_zh).format(**params)
        super().__init__(self.en)

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.en, "detail_zh": self.zh}


class NotFound(AppError):
    status = 404
    code = "not_found"
    message_en = "Not found."
    message_zh = "找不到该对象，它可能已被删除，或您没有查看权限。"


class PermissionDenied(AppError):
    status = 403
    code = "permission_denied"
    message_en = "You are not allowed to do this."
    message_zh = "您没有执行此操作的权限，请联系平台管理员。"


class AuthenticationRequired(AppError):
    status = 401
    code = "authentication_required"
    message_en = "Log in or send a valid API token."
    message_zh = "请先登录。"


class Conflict(AppError):
    status = 409
    code = "conflict"
    message_en = "The object changed or already exists."
    message_zh = "数据已存在或已被修改，请刷新后重试。"


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    message_en = "Invalid input: {field}."
    message_zh = "输入有误：{field}。"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message_en = "Too many attempts; wait a minute and try again."
    message_zh = "尝试次数过多，请一分钟后再试。"


class MoneyInvalid(ValidationFailed):
    code = "money_invalid"
    message_en = "{field} must be a non-negative amount in fen (integer), got {value!r}."
    message_zh = "{field_zh}必须是不小于 0 的金额（最多两位小数），您输入的是“{value}”。"


class RateInvalid(ValidationFailed):
    code = "rate_invalid"
    message_en = "{field} must be an integer between 0 and 10000 basis points, got {value!r}."
    message_zh = "{field_zh}必须在 0% 到 100% 之间，您输入的是“{value}”。"
