"""The console's navigation, by role: groups of (path, label). One list to edit when a page is
added; ``base.html`` renders it (every link stays visible, grouped under a small label)."""

from __future__ import annotations

from typing import Final

from siyu.models import Role

NavGroup = tuple[str, list[tuple[str, str]]]

_PLATFORM: Final[list[NavGroup]] = [
    ("", [("/console", "概览"), ("/console/story", "演示导览")]),
    (
        "商品",
        [
            ("/console/merchants", "商家"),
            ("/console/products", "商品"),
            ("/console/products/review", "选品审核"),
            ("/console/coupons", "优惠券"),
        ],
    ),
    (
        "交易",
        [
            ("/console/orders", "订单"),
            ("/console/commissions", "佣金"),
            ("/console/holds", "风控审核"),
            ("/console/withdrawals", "提现"),
        ],
    ),
    ("推手", [("/console/promoters", "推手"), ("/console/grades", "推手等级")]),
    (
        "私域",
        [
            ("/console/pool/accounts", "运营号"),
            ("/console/pool/codes", "活码"),
            ("/console/pool/groups", "社群"),
            ("/console/pool/tasks", "运营任务"),
            ("/console/contacts", "联系人"),
            ("/console/segments", "人群"),
            ("/console/tags", "标签"),
        ],
    ),
    (
        "营销",
        [
            ("/console/campaigns", "裂变活动"),
            ("/console/scripts", "话术库"),
            ("/console/flows", "会话流程"),
            ("/console/broadcasts", "群发"),
            ("/console/moments", "朋友圈"),
            ("/console/followups", "跟进"),
            ("/console/posters", "海报设计"),
        ],
    ),
    (
        "数据",
        [
            ("/console/analytics/sales", "渠道与销售"),
            ("/console/analytics/promoters", "推手排行"),
            ("/console/analytics/cohorts", "复购分群"),
            ("/console/analytics/fleet", "运营号健康"),
            ("/console/analytics/campaigns", "活动分析"),
            ("/console/forecasts", "活动预测"),
        ],
    ),
]

_MERCHANT: Final[list[NavGroup]] = [
    ("", [("/console", "概览")]),
    (
        "经营",
        [
            ("/console/products", "我的商品"),
            ("/console/coupons", "优惠券"),
            ("/console/orders", "订单"),
            ("/console/commissions/costs", "佣金成本"),
        ],
    ),
    (
        "活动",
        [
            ("/console/analytics/campaigns", "活动分析"),
            ("/console/forecasts", "活动预测"),
            ("/console/posters", "海报设计"),
        ],
    ),
    (
        "数据",
        [("/console/analytics/sales", "销售与佣金"), ("/console/analytics/cohorts", "复购分群")],
    ),
]

_PROMOTER: Final[list[NavGroup]] = [
    (
        "私域",
        [
            ("/console/pool/accounts", "我的运营号"),
            ("/console/pool/codes", "活码"),
            ("/console/pool/groups", "社群"),
            ("/console/pool/tasks", "运营任务"),
            ("/console/contacts", "我的联系人"),
            ("/console/segments", "人群"),
            ("/console/tags", "标签"),
        ],
    ),
    ("营销", [("/console/broadcasts", "群发")]),
    (
        "数据",
        [("/console/analytics/promoters", "我的团队"), ("/console/analytics/fleet", "运营号健康")],
    ),
]

_ADMIN_EXTRA: Final = [
    ("/console/users", "用户与角色"),
    ("/console/privacy/access-log", "访问日志"),
]
_EVERYONE: Final = [("/console/compliance", "文案检查")]


def console_nav(role: Role | str) -> list[NavGroup]:
    value = Role(role)
    if value in (Role.ADMIN, Role.OPERATOR):
        groups = list(_PLATFORM)
    elif value == Role.MERCHANT:
        groups = list(_MERCHANT)
    elif value == Role.PROMOTER:
        groups = list(_PROMOTER)
    else:
        groups = []
    extra = (_ADMIN_EXTRA if value == Role.ADMIN else []) + _EVERYONE
    return [*groups, ("合规", extra)]
