"""The lint itself: pure functions over text, no I/O. Every rule has an id, a severity, the
regulation it comes from and a suggested fix; ``lint`` returns the findings in text order.

Rules are regular expressions with explicit exceptions for the compliant phrasings that look
alike ("分享给需要的朋友" carries no reward; "第一次" is an ordinal, "最好提前下单" means
"preferably"). The labelled corpus in tests/compliance/ measures recall and false positives.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final


class Severity(enum.IntEnum):
    INFO = 1
    WARN = 2
    BLOCK = 3


SEVERITY_LABELS: Final = {Severity.INFO: "提示", Severity.WARN: "警告", Severity.BLOCK: "禁止"}


class Category(enum.StrEnum):
    INDUCED_SHARING = "induced_sharing"
    INDUCED_FOLLOWING = "induced_following"
    ABSOLUTE_TERMS = "absolute_terms"
    EFFICACY_CLAIMS = "efficacy_claims"
    PRICE_CLAIMS = "price_claims"
    AD_LABEL = "ad_label"


CATEGORY_LABELS: Final = {
    Category.INDUCED_SHARING: "诱导分享",
    Category.INDUCED_FOLLOWING: "诱导关注",
    Category.ABSOLUTE_TERMS: "绝对化用语",
    Category.EFFICACY_CLAIMS: "功效承诺",
    Category.PRICE_CLAIMS: "价格表述",
    Category.AD_LABEL: "广告标识",
}


class TextKind(enum.StrEnum):
    """Where the text goes: some rules apply only to what is published as advertising."""

    SCRIPT = "script"  # 1:1 replies (话术)
    BROADCAST = "broadcast"  # 群发
    MOMENT = "moment"  # 朋友圈
    POSTER = "poster"
    CAMPAIGN = "campaign"  # a campaign's rules and reward text


WECHAT_LINK_RULES: Final = "《微信外部链接内容管理规范》（2019-10-28 修订）3.1 诱导分享、诱导关注"
ADVERTISING_LAW_9: Final = (
    "《中华人民共和国广告法》第九条第（三）项：不得使用“国家级”“最高级”“最佳”等用语"
)
ADVERTISING_LAW_17: Final = (
    "《中华人民共和国广告法》第十七条：除医疗、药品、医疗器械广告外，不得涉及疾病治疗功能"
)
ADVERTISING_LAW_28: Final = (
    "《中华人民共和国广告法》第二十八条：虚假或引人误解的内容（含保证性承诺）"
)
PRICE_RULES: Final = (
    "《明码标价和禁止价格欺诈规定》（2022）第十九条：虚构原价、无依据的价格比较和承诺"
)
AD_LABEL_RULES: Final = "《互联网广告管理办法》（2023）第九条：互联网广告应当显著标明“广告”"


@dataclass(frozen=True)
class Rule:
    id: str
    category: Category
    severity: Severity
    message_zh: str
    regulation: str
    suggestion_zh: str
    pattern: re.Pattern[str]
    # A match is dropped when one of these matches the text around it (±12 characters).
    exceptions: tuple[re.Pattern[str], ...] = ()
    kinds: frozenset[TextKind] = field(default_factory=lambda: frozenset(TextKind))


@dataclass(frozen=True)
class Finding:
    rule_id: str
    category: Category
    severity: Severity
    message_zh: str
    regulation: str
    suggestion_zh: str
    start: int
    end: int
    excerpt: str

    @property
    def blocking(self) -> bool:
        return self.severity == Severity.BLOCK


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_NUM = r"(?:\d+|[一二两三四五六七八九十百]+)"
_SHARE = r"(?:转发|分享|转给|发给|转到|发到|晒到|转至|发送到|发送给|发朋友圈|转发朋友圈|分享朋友圈)"
_REWARD = (
    r"(?:领|领取|获得|得到|赢|抽奖|抽取|免费|免单|解锁|返现|返|兑换|送|参与|有奖|奖励|红包|礼品|礼物"
    r"|拿|包邮|打折|优惠|名额)"
)
_THEN = r"(?:后|之后|即可|就可以|就能|就|才能|才可以|才|即|可|立即|马上|并|都能|能)"

RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "share_count_target",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "要求分享到指定数量的群、好友或朋友圈。",
        WECHAT_LINK_RULES,
        "删除分享数量要求；改为“喜欢可以推荐给需要的朋友”，不设任何奖励条件。",
        _re(
            rf"{_SHARE}\s*(?:到|至|给)?\s*{_NUM}\s*(?:个|位|名)?\s*"
            r"(?:\d+\s*人\s*)?(?:微信群|群聊|群|好友|朋友|人|个朋友圈|朋友圈)"
        ),
    ),
    Rule(
        "share_for_reward",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "以奖励诱导用户分享或转发。",
        WECHAT_LINK_RULES,
        "奖励不得以分享、转发为条件；可改为通过个人专属码核实的新好友或首单。",
        _re(
            rf"{_SHARE}(?:[^。！？.!?\n]{{0,14}}?){_THEN}[^，。！？,.!?\n]{{0,8}}?{_REWARD}"
            rf"|{_REWARD}[^，。！？,.!?\n]{{0,6}}?(?:需要|需|要|请|只要|只需)[^，。！？,.!?\n]{{0,6}}?"
            rf"{_SHARE}"
        ),
        exceptions=(_re(r"转发请注明|转发请标明|分享给需要的|推荐给需要的|欢迎转发(?!.{0,6}领)"),),
    ),
    Rule(
        "collect_likes",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "集赞换奖励属于诱导分享。",
        WECHAT_LINK_RULES,
        "取消集赞条件。",
        _re(
            rf"集\s*(?:满\s*)?{_NUM}?\s*(?:个)?\s*赞|集赞|点赞\s*(?:满|超过|达到)\s*{_NUM}|{_NUM}个赞(?:即可|就|可|领|送|换)"
            r"|点赞\s*(?:最多|前\s*\d+|排名|数最高)"
        ),
    ),
    Rule(
        "friend_boost",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "好友助力换奖励属于诱导分享。",
        WECHAT_LINK_RULES,
        "取消助力机制；奖励只按核实的新好友或首单发放。",
        _re(
            r"(?:好友|朋友|帮[我他她忙]|找人|拉人|邀请好友|请好友|为我|给我|一起|点击)\s*助力"
            rf"|助力\s*(?:后|即可|满|{_NUM}\s*(?:次|人|位)|领|得|抽|免单|值|成功|链接|活动)"
        ),
        exceptions=(
            _re(r"助力(?:乡村|振兴|发展|经济|企业|产业|公益|梦想|成长|环保|中小|实体|复苏|高考)"),
        ),
    ),
    Rule(
        "bargain_chop",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "“帮砍一刀”类砍价需要用户分享拉人，属于诱导分享。",
        WECHAT_LINK_RULES,
        "改为直接降价或优惠券，不需要他人参与。",
        _re(r"砍\s*一\s*刀|帮[我他她忙]?砍|砍价|砍到\s*0|0\s*元砍|砍成"),
        exceptions=(_re(r"(?:谢绝|拒绝|不接受|不支持|不能|不可|不)砍价"),),
    ),
    Rule(
        "screenshot_proof",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "要求分享并截图证明以换取奖励（种子活动的做法），属于诱导分享。",
        WECHAT_LINK_RULES,
        "改为个人专属码：只按核实的新好友添加或首单发放奖励。",
        _re(
            rf"{_SHARE}[^。！？!?\n]{{0,20}}截图|截图[^。！？!?\n]{{0,10}}"
            r"(?:发给我|发我|给我|私信|领|兑换|审核|为准|证明)"
        ),
    ),
    Rule(
        "moral_pressure",
        Category.INDUCED_SHARING,
        Severity.BLOCK,
        "以恐吓、道德绑架或好运承诺诱导转发。",
        WECHAT_LINK_RULES,
        "删除此类表述。",
        _re(
            r"不转不是|不转发就|不分享就|转发(?:有|得|保|带来)?\s*(?:好运|平安|发财|健康|福气)"
            r"|看到(?:请|就|必须)?转|必须转发|一定要转发|速转|紧急扩散|转疯了"
        ),
    ),
    Rule(
        "follow_for_reward",
        Category.INDUCED_FOLLOWING,
        Severity.BLOCK,
        "以奖励诱导关注公众号或账号。",
        WECHAT_LINK_RULES,
        "奖励不得以关注为条件；可以介绍账号内容，让用户自愿关注。",
        _re(
            rf"关注\s*(?:公众号|我们|本号|账号|服务号|视频号)?[^，。！？,.!?\n]{{0,6}}?{_THEN}"
            rf"[^，。！？,.!?\n]{{0,6}}?(?:领|领取|获得|抽奖|免费|解锁|查看|阅读|下载|送|参与)"
        ),
    ),
    Rule(
        "invite_for_reward",
        Category.INDUCED_SHARING,
        Severity.WARN,
        "邀请好友换奖励：只有核实为真实新用户时才可发放，不得要求分享到群或朋友圈。",
        WECHAT_LINK_RULES,
        "使用个人专属码，按核实的新好友或首单计数，并写明规则。",
        _re(
            rf"(?:邀请|拉|带)\s*{_NUM}\s*(?:个|位|名)?\s*(?:好友|朋友|新人|人|新用户)"
            rf"[^。！？.!?\n]{{0,10}}?{_REWARD}"
        ),
    ),
    Rule(
        "superlative",
        Category.ABSOLUTE_TERMS,
        Severity.BLOCK,
        "使用了“最佳、最好”等最高级用语。",
        ADVERTISING_LAW_9,
        "改为可证实的具体描述，例如“口碑好”“很受欢迎”“本店热卖”。",
        _re(
            r"最(?:佳|优|强|棒|便宜|实惠|划算|高级|先进|受欢迎|畅销|热销|权威|正宗|安全|有效|专业"
            r"|纯正|好用|好吃|好喝|牛|顶级|火|靠谱|值得|全)"
            r"|最好(?!在|是|提前|先|不要|别|能|尽快|尽早|放|用完|还是|的朋友|的礼物|每天|多|少|及时|备|问|咨询|联系|确认|选择|趁)"
        ),
    ),
    Rule(
        "lowest_price",
        Category.ABSOLUTE_TERMS,
        Severity.BLOCK,
        "“全网最低价”等绝对化价格用语。",
        ADVERTISING_LAW_9,
        "写明具体价格和优惠方式，如“券后 59 元”。",
        _re(r"(?:全网|史上|全国|全年|历史)\s*最低|最低价|价格最低|底价|地板价"),
    ),
    Rule(
        "number_one",
        Category.ABSOLUTE_TERMS,
        Severity.BLOCK,
        "“第一、No.1”等排名类绝对化用语。",
        ADVERTISING_LAW_9,
        "删除排名表述，或写明有据可查的来源和时间（如“2026 年 11 月某平台销量榜前列”）。",
        _re(
            r"(?:销量|销售|排名|行业|全国|全网|世界|全球|中国|国内|品类|同类|全省|全市|口碑)\s*第\s*一"
            r"|第一品牌|NO\s*\.?\s*1(?!\d)|TOP\s*1(?!\d)|第一名|冠军(?:品牌|产品)"
            r"|(?:是|称|号称|堪称|做到|稳居|荣获|位居|当之无愧的?|绝对的?)第一"
            r"(?![次步天件个批期单位时份波款眼口印轮季周回章节])"
        ),
    ),
    Rule(
        "supreme_terms",
        Category.ABSOLUTE_TERMS,
        Severity.BLOCK,
        "“国家级、顶级、独一无二”等绝对化用语。",
        ADVERTISING_LAW_9,
        "改为具体、可证实的描述。",
        _re(
            r"国家级|世界级|全球级|宇宙级|顶级|极品|首选|独一无二|绝无仅有|史无前例|万能|唯一指定"
            r"|王牌|至尊|巅峰|无敌|前无古人|领导品牌|遥遥领先|全网独家|国家免检|特供|专供"
        ),
        exceptions=(_re(r"首选项|默认首选"),),
    ),
    Rule(
        "guarantee",
        Category.EFFICACY_CLAIMS,
        Severity.BLOCK,
        "保证性承诺（“100% 有效、无副作用”等）。",
        ADVERTISING_LAW_28,
        "删除保证性承诺，写明真实的产品信息。",
        _re(
            r"(?:100\s*%|百分之百|百分百|绝对|保证|包)\s*(?:有效|见效|治愈|根治|无副作用|安全|纯天然|瘦|美白|祛斑|长高)"
            r"|无\s*(?:任何\s*)?副作用|零副作用|永不反弹|一次见效|立竿见影|包过|稳赚|保本"
        ),
    ),
    Rule(
        "treatment",
        Category.EFFICACY_CLAIMS,
        Severity.BLOCK,
        "普通商品宣传疾病治疗功效。",
        ADVERTISING_LAW_17,
        "删除治疗功效表述；食品、日用品不得宣传治病。",
        _re(
            r"根治|治愈|包治|药到病除|永不复发|治疗(?:糖尿病|高血压|癌|失眠|脱发|鼻炎|胃病|痛风)"
            r"|降血压|降血糖|降血脂|抗癌|防癌|消炎|杀菌率|排毒养颜|延年益寿|壮阳"
        ),
    ),
    Rule(
        "reference_price",
        Category.PRICE_CLAIMS,
        Severity.WARN,
        "使用“原价、专柜价、市场价”对比：被比较价格须为降价前 7 日内的最低成交价，并能举证。",
        PRICE_RULES,
        "写明比较价格的依据（如“前 7 日最低成交价 ¥99”），或只写现价。",
        _re(r"原价|专柜价|市场价|吊牌价|划线价|参考价|门市价|零售价\s*[¥￥\d]"),
        exceptions=(
            _re(
                r"恢复原价时间|原价购买的(?:顾客|用户|朋友)可|原价退|按原价退|(?:第一|首|一)件原价"
            ),
        ),
    ),
    Rule(
        "unfounded_price",
        Category.PRICE_CLAIMS,
        Severity.WARN,
        "“跳楼价、亏本清仓、出厂价”等无依据的价格表述。",
        PRICE_RULES,
        "写明具体价格与优惠规则，不用无法证实的“亏本、出厂价”。",
        _re(
            r"跳楼价|跳楼甩卖|血亏|亏本|赔本|成本价|出厂价|批发价|倒闭|清仓价|白菜价|骨折价|赔钱"
            r"|不要钱|白送|几乎免费"
        ),
        exceptions=(_re(r"不亏本|绝不亏本"),),
    ),
    Rule(
        "false_urgency",
        Category.PRICE_CLAIMS,
        Severity.WARN,
        "以不真实的涨价、恢复原价制造紧迫感。",
        PRICE_RULES,
        "只写真实的活动截止时间。",
        _re(
            r"(?:明天|明日|马上|即将|今晚过后|今天过后|过了今天|错过今天)\s*(?:就|立即|立马)?\s*(?:涨价|恢复原价|回原价|涨回)"
            r"|最后\s*\d+\s*(?:分钟|秒)"
        ),
    ),
    Rule(
        "free_but_pay",
        Category.PRICE_CLAIMS,
        Severity.WARN,
        "标“免费”却要支付邮费、运费等费用，容易引人误解。",
        PRICE_RULES,
        "写明实际需支付的费用，如“赠品免费，运费 8 元由您承担”。",
        _re(
            r"免费[^。！？!?\n]{0,20}?(?:仅需|只需|只要|需|须|要)?\s*(?:付|支付|承担|自付|出)\s*"
            r"(?:\d+(?:\.\d+)?\s*元\s*)?(?:邮费|运费|快递费|邮资|包装费|手续费)"
            r"|(?:邮费|运费|快递费)\s*自理[^。！？!?\n]{0,10}?免费"
            r"|0\s*元\s*(?:领|购)[^。！？!?\n]{0,12}?(?:邮费|运费)"
        ),
    ),
)

RULES_BY_ID: Final = {rule.id: rule for rule in RULES}
assert len(RULES_BY_ID) == len(RULES), "rule ids are unique"

# The 广告 label: advertising published to many people (broadcast, moments, posters) that
# promotes a product with a price and a way to buy must say so.
_AD_KINDS: Final = frozenset({TextKind.BROADCAST, TextKind.MOMENT, TextKind.POSTER})
_PRICE = _re(r"[¥￥]\s*\d|\d+(?:\.\d+)?\s*元|\d+(?:\.\d)?\s*折|券后|满\s*\d+\s*减|优惠券")
_BUY = _re(r"https?://|下单|购买|抢购|点击链接|戳链接|链接|小程序|扫码购|拍下|入手")
_AD_MARK = _re(r"广告|推广|\bAD\b|赞助")
AD_LABEL_RULE: Final = Rule(
    "ad_label_missing",
    Category.AD_LABEL,
    Severity.INFO,
    "带价格和购买入口的推广内容未标明“广告”。",
    AD_LABEL_RULES,
    "在文案开头或结尾加上“广告”或“推广”字样。",
    _PRICE,
    kinds=_AD_KINDS,
)


def normalize(text: str) -> str:
    """Full-width to half-width (ＮＯ．１ → NO.1) so look-alike characters do not slip through.

    NFKC keeps the length of CJK text except for rare ligatures and compatibility characters;
    offsets then refer to the normalised text.
    """
    return unicodedata.normalize("NFKC", text)


def _excepted(rule: Rule, text: str, start: int, end: int) -> bool:
    window = text[max(0, start - 12) : end + 12]
    return any(exception.search(window) for exception in rule.exceptions)


def lint(text: str, kind: TextKind = TextKind.SCRIPT) -> list[Finding]:
    """Every finding in ``text`` for copy going to ``kind``, ordered by position then rule."""
    original = text or ""
    source = normalize(original)
    # Excerpts quote what the person wrote when normalising kept every offset (the usual case).
    shown = original if len(original) == len(source) else source
    findings: list[Finding] = []
    for rule in RULES:
        if kind not in rule.kinds:
            continue
        for match in rule.pattern.finditer(source):
            if match.end() == match.start() or _excepted(rule, source, match.start(), match.end()):
                continue
            findings.append(_finding(rule, match.start(), match.end(), shown))
    if kind in _AD_KINDS:
        price = _PRICE.search(source)
        if price and _BUY.search(source) and not _AD_MARK.search(source):
            findings.append(_finding(AD_LABEL_RULE, price.start(), price.end(), shown))
    findings.sort(key=lambda finding: (finding.start, finding.rule_id))
    return findings


def _finding(rule: Rule, start: int, end: int, text: str) -> Finding:
    return Finding(
        rule_id=rule.id,
        category=rule.category,
        severity=rule.severity,
        message_zh=rule.message_zh,
        regulation=rule.regulation,
        suggestion_zh=rule.suggestion_zh,
        start=start,
        end=end,
        excerpt=text[max(0, start - 8) : end + 8],
    )


def worst(findings: Iterable[Finding]) -> Severity | None:
    return max((finding.severity for finding in findings), default=None)


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.blocking]
