"""WeCom (企业微信) backend: declared here so accounts of kind wecom_member route to it; the
real adapter (客户联系, 客户群, 群发, callbacks with signature + AES) comes in a later issue.
Every call raises ``ChannelNotConfigured`` so nothing is silently dropped."""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy.orm import Session

from siyu.channels.base import (
    ChannelBackend,
    ChannelNotConfigured,
    MomentContent,
    OutgoingMessage,
    SendResult,
)
from siyu.models import Contact, OperatorAccount, WechatGroup


class WecomBackend(ChannelBackend):
    name = "wecom"
    automated = True

    def _refuse(self) -> NoReturn:
        raise ChannelNotConfigured(backend=self.name)

    def send(
        self,
        session: Session,
        account: OperatorAccount,
        message: OutgoingMessage,
        contact: Contact | None = None,
        group: WechatGroup | None = None,
    ) -> SendResult:
        self._refuse()

    def expect_add(
        self, session: Session, account: OperatorAccount, contact: Contact, welcome_script: str
    ) -> None:
        self._refuse()

    def request_remove(
        self, session: Session, account: OperatorAccount, contact: Contact, reason: str
    ) -> None:
        self._refuse()

    def post_moment(
        self, session: Session, account: OperatorAccount, content: MomentContent
    ) -> SendResult:
        self._refuse()

    def interact_moment(
        self, session: Session, account: OperatorAccount, contact: Contact, comment: str, key: str
    ) -> SendResult:
        self._refuse()


def build() -> ChannelBackend:
    return WecomBackend()
