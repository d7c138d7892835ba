"""Which backend serves an account: the account's own ``channel_backend``, else the
``SIYU_CHANNEL_BACKEND`` setting (e.g. ``simulator`` for the demo and load runs), else by kind:
personal and courier accounts are assisted (siyu never automates personal WeChat), WeCom members
use the WeCom API."""

from __future__ import annotations

import importlib

from siyu.channels.base import ChannelBackend, ChannelUnknown
from siyu.config import current_settings
from siyu.models import AccountKind, OperatorAccount

BACKEND_MODULES = {
    "simulator": "siyu.channels.simulator.backend",
    "assisted": "siyu.channels.assisted.backend",
    "wecom": "siyu.channels.wecom.backend",
}

_instances: dict[str, ChannelBackend] = {}


def backend_name_for(account: OperatorAccount) -> str:
    if account.channel_backend:
        return account.channel_backend
    configured = current_settings().channel_backend
    if configured:
        return configured
    return "wecom" if account.kind == AccountKind.WECOM_MEMBER else "assisted"


def get_backend(name: str) -> ChannelBackend:
    if name not in BACKEND_MODULES:
        raise ChannelUnknown(backend=name)
    if name not in _instances:
        module = importlib.import_module(BACKEND_MODULES[name])
        _instances[name] = module.build()
    return _instances[name]


def backend_for(account: OperatorAccount) -> ChannelBackend:
    return get_backend(backend_name_for(account))
