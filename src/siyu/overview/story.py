"""演示导览 — the seed's B2K2C story, step by step, on this installation's real data.

Seed 000 tells how JD ran private-domain traffic: brands fund products and commissions, a
fleet of 福利官 accounts collects consumers through codes and a "免费领取拉杆箱" poster, standard
scripts carry them into coupon groups, moments and paced broadcasts keep them warm, couriers
and promoters bring their own people, and every order pays commissions that end in a
withdrawal. This page walks that story in order: each step says what happens, shows live
figures counted from the fact tables (never counters) and links to the console page — and,
where one exists, the very object — where a newcomer can see it.

Platform staff only (the figures span every merchant and promoter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.money import format_yuan
from siyu.models import Role
from siyu.overview.repository import StoryRepository


@dataclass(frozen=True)
class Figure:
    label: str
    value: str


@dataclass(frozen=True)
class Link:
    label: str
    href: str


@dataclass
class StoryStep:
    key: str
    title: str
    seed: str  # what the seed says happens here (paraphrased)
    siyu: str  # what siyu does and where to look
    figures: list[Figure] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No figure above zero yet: the page says how to start instead of showing zeros."""
        return all(figure.value in ("0", "¥0.00") for figure in self.figures)


def _n(value: int) -> str:
    return f"{value:,}"


def story(session: Session, actor: Principal) -> list[StoryStep]:
    actor.require(Role.ADMIN, Role.OPERATOR)
    r = StoryRepository(session)
    steps: list[StoryStep] = []

    steps.append(
        StoryStep(
            "catalog",
            "1. 品牌出资，平台选品",
            "品牌方提供折扣和佣金，平台挑选拼团好货放进推广池。",
            "商家在「商品」里提交商品、设定佣金比例；运营在「选品审核」通过后进入推广池，"
            "推手只能推广池里的商品。",
            [Figure("商家", _n(r.merchants())), Figure("推广池商品", _n(r.pool_products()))],
            [Link("商品", "/console/products"), Link("选品审核", "/console/products/review")],
        )
    )
    steps.append(
        StoryStep(
            "fleet",
            "2. 福利官运营号矩阵",
            "几十个个人号和企业微信号以「福利官」人设承接流量，每个号都有加好友上限。",
            "「运营号」记录每个号的人设、区域、工作时间和每日加好友上限；"
            "「运营号健康」看好友数、今日新增和剩余好友位。",
            [
                Figure("运营号", _n(r.accounts())),
                Figure("好友（已通过）", _n(r.confirmed_contacts())),
            ],
            [
                Link("运营号", "/console/pool/accounts"),
                Link("运营号健康", "/console/analytics/fleet"),
            ],
        )
    )
    steps.append(
        StoryStep(
            "codes",
            "3. 活码引流",
            "海报、包裹卡、门店物料上的二维码把人分到不同的福利官号，满了自动换号。",
            "「活码」按规则和策略分配运营号，不会超过任何上限；每次扫码都有记录和来源。",
            [Figure("活码", _n(r.codes())), Figure("扫码次数", _n(r.scans()))],
            [Link("活码", "/console/pool/codes"), Link("联系人", "/console/contacts")],
        )
    )
    share = r.first_campaign(share_proof=True)
    invite = r.first_campaign(share_proof=False)
    campaign_links = [Link("裂变活动", "/console/campaigns")]
    for campaign_id, name in (share, invite):
        if campaign_id is not None:
            campaign_links.append(Link(name, f"/console/campaigns/{campaign_id}"))
            campaign_links.append(
                Link(f"{name} · 漏斗", f"/console/analytics/campaigns/{campaign_id}")
            )
    steps.append(
        StoryStep(
            "poster",
            "4. 裂变海报「免费领取拉杆箱」",
            "用户扫海报加福利官，转发海报或邀请好友，达标即可按区县名额领取拉杆箱。",
            "「裂变活动」设置奖励档位、区县库存和邀请验证；分享截图玩法需管理员确认风险。"
            "活动分析里看扫码 → 加好友 → 参与 → 达标 → 领奖 → 进群 → 下单的漏斗和 K 值。",
            [
                Figure("活动", _n(r.campaigns())),
                Figure("参与者", _n(r.participants())),
                Figure("有效邀请", _n(r.verified_referrals())),
                Figure("已发奖励", _n(r.rewards())),
            ],
            campaign_links,
        )
    )
    conversation = r.completed_conversation()
    steps.append(
        StoryStep(
            "script",
            "5. 标准话术，一步步引导",
            "加好友后福利官按标准话术问区县、让用户选款、发专属海报、确认截图。",
            "「话术库」和「会话流程」定义每一步；模拟器上可以看到完整的对话记录。",
            [
                Figure("会话", _n(r.conversations())),
                Figure("已走完", _n(r.conversations(completed=True))),
            ],
            [Link("会话流程", "/console/flows"), Link("话术库", "/console/scripts")]
            + (
                [Link("一段走完的对话", f"/console/conversations/{conversation}")]
                if conversation is not None
                else []
            ),
        )
    )
    steps.append(
        StoryStep(
            "group",
            "6. 领奖进群：双十一内购优惠券群",
            "领到奖励的用户被邀请进优惠券群，群里每晚发专属券。",
            "群活码满 500 人（企业微信 200 人）自动开新群；「社群」看每个群的人数。",
            [Figure("社群", _n(r.groups())), Figure("在群人数", _n(r.group_members()))],
            [Link("社群", "/console/pool/groups")],
        )
    )
    steps.append(
        StoryStep(
            "moments",
            "7. 朋友圈栏目",
            "福利官每天按栏目发朋友圈（好物推荐、限时秒杀、晒单），并给好友点赞互动。",
            "「朋友圈」按日历排期，发布和互动都有记录，个人号由人工按任务发送。",
            [
                Figure("栏目", _n(r.moment_columns())),
                Figure("已发布", _n(r.moment_publications())),
            ],
            [Link("朋友圈", "/console/moments"), Link("跟进", "/console/followups")],
        )
    )
    broadcast = r.done_broadcast()
    steps.append(
        StoryStep(
            "broadcast",
            "8. 分批群发",
            "对选定人群分批、错峰地群发，避免一次发太多被限制。",
            "「人群」圈选联系人，「群发」按每个号的配额和时段排队发送，退订的人不会再收到。",
            [
                Figure("群发", _n(r.broadcasts())),
                Figure("已送达", _n(r.broadcast_sends_sent())),
            ],
            [Link("群发", "/console/broadcasts"), Link("人群", "/console/segments")]
            + (
                [Link("一次完成的群发", f"/console/broadcasts/{broadcast}")]
                if broadcast is not None
                else []
            ),
        )
    )
    steps.append(
        StoryStep(
            "courier",
            "9. 快递员加客户",
            "快递员在配送片区里添加收件客户为好友，把包裹变成私域入口。",
            "订单送达片区时，快递员的号收到「添加客户」任务，加上后客户绑定到该快递员。",
            [
                Figure("快递员", _n(r.couriers())),
                Figure("加客户任务", _n(r.courier_tasks())),
            ],
            [Link("运营任务", "/console/pool/tasks"), Link("推手", "/console/promoters")],
        )
    )
    steps.append(
        StoryStep(
            "links",
            "10. 推手分享链接",
            "推手（宝妈、小店老板、导购、KOC）把商品链接发到自己的群和朋友圈。",
            "每条推广链接都带推手身份，点击被记录并在下单时归因；推手在手机 H5 上取链接、看收益。",
            [Figure("推广链接", _n(r.links())), Figure("点击", _n(r.clicks()))],
            [Link("推手", "/console/promoters"), Link("推手排行", "/console/analytics/promoters")],
        )
    )
    gmv_fen, orders = r.gmv_and_orders()
    order = r.attributed_order()
    steps.append(
        StoryStep(
            "orders",
            "11. 下单与归因",
            "消费者通过推手链接或绑定关系下单，订单归到带来他的推手。",
            "订单冻结归因（点击 / 绑定），退款、取消、售后都会重新计算佣金。",
            [Figure("订单（未取消）", _n(orders)), Figure("成交额", f"¥{format_yuan(gmv_fen)}")],
            [Link("订单", "/console/orders"), Link("渠道与销售", "/console/analytics/sales")]
            + ([Link("一笔推手订单", f"/console/orders/{order}")] if order is not None else []),
        )
    )
    steps.append(
        StoryStep(
            "commissions",
            "12. 佣金入账与结算",
            "每笔订单按比例给一级、二级推手计佣，确认收货并过了售后期才结算。",
            "佣金写在只追加的分录账本里，精确到分；风控审核拦下可疑订单的佣金。",
            [
                Figure("佣金记录", _n(r.commissions())),
                Figure("已结算", _n(r.commissions(settled=True))),
            ],
            [
                Link("佣金", "/console/commissions"),
                Link("风控审核", "/console/holds"),
                Link("佣金成本", "/console/commissions/costs"),
            ],
        )
    )
    paid_count, paid_fen = r.paid_withdrawals()
    steps.append(
        StoryStep(
            "payout",
            "13. 提现到账",
            "推手把可提现的佣金提到微信零钱或银行卡。",
            "提现经审核后打款，失败自动退回余额；每位推手的账本都能逐笔对账。",
            [Figure("已到账提现", _n(paid_count)), Figure("到账金额", f"¥{format_yuan(paid_fen)}")],
            [Link("提现", "/console/withdrawals")],
        )
    )
    steps.append(
        StoryStep(
            "dashboards",
            "14. 每天早上看数据",
            "运营负责人每天看各渠道的新客、订单和成交，以及三至六线城市的新客占比（约 70%）。",
            "数据看板的每个数字都从账本和事件表重新计算，可导出 CSV / XLSX。",
            [],
            [
                Link("渠道与销售", "/console/analytics/sales"),
                Link("复购分群", "/console/analytics/cohorts"),
                Link("活动分析", "/console/analytics/campaigns"),
            ],
        )
    )
    forecast = r.latest_forecast()
    steps.append(
        StoryStep(
            "forecast",
            "15. 下一场活动，先预测再花钱",
            "十万人的活动不能盲目上线：先估计能带来多少好友、要发多少奖品、哪天名额或号会先用完。",
            "「活动预测」在模拟市场上把活动跑几百次，给出区间和用尽预警；活动跑完后对比预测与实际。",
            [Figure("预测", _n(r.forecasts()))],
            [Link("活动预测", "/console/forecasts")]
            + (
                [Link("最近一次预测与实际", f"/console/forecasts/{forecast}")]
                if forecast is not None
                else []
            ),
        )
    )
    return steps


__all__ = ["Figure", "Link", "StoryStep", "story"]
