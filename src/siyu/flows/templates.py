"""The shipped flows: the seed's 拉杆箱 campaign conversation (/work/shared/seeds 000, the
“免费收取拉杆箱活动” part) in two variants.

- ``luggage_share``: as the seed ran it — greeting → which district → quota (有名额/已领完) →
  numbered styles → style number → share the poster to 80+ friends → screenshot → reward →
  coupon group. Its share instruction is induced sharing (《微信外部链接内容管理规范》3.1): the
  compliance lint blocks it, so installing needs an admin's override reason (audited).
- ``luggage_invite``: the same up to the style, then the participant's personal invite link:
  invite new friends, counted by verified adds (campaign trigger ``friend_add``) instead of
  screenshots; a reply asks for the reward, which is issued once the tier's count is reached.

Both call the campaign actions by name, with the outcomes and variables siyu.campaigns documents
(docs/campaigns.md "Flow actions"): ``campaign.check_quota``, ``campaign.choose_style``,
``campaign.join``, ``campaign.request_proof``, ``campaign.issue_reward``,
``campaign.invite_to_group``. They install before siyu.campaigns is deployed (as drafts) and
publish once those actions are registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DAY = 24 * 60


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    category: str
    scripts: Mapping[str, tuple[str, str]]  # key -> (name, body)
    steps: Callable[[Mapping[str, int]], list[dict[str, Any]]]
    settings: Mapping[str, Any] = field(default_factory=dict)


COMMON_SCRIPTS: dict[str, tuple[str, str]] = {
    "greeting": (
        "拉杆箱·欢迎",
        "{昵称}您好！我是活动推广员😊 拉杆箱免费领活动正在进行，名额按区县分配。"
        "请问您在哪个区县？直接回复区县名称，我帮您查一下还有没有名额。",
    ),
    "ask_district_reminder": (
        "拉杆箱·提醒回复区县",
        "{昵称}，还在吗？回复您所在的区县名称，我马上帮您查名额哦。",
    ),
    "quota_ok": (
        "拉杆箱·有名额",
        "查到了！您那里还有名额（剩余 {剩余名额} 个）。款式都发在我的朋友圈里，每款都有编号，"
        "看好后直接回复款式编号就可以。",
    ),
    "sold_out": (
        "拉杆箱·已领完",
        "非常抱歉，您那里的名额已经领完了。有新名额和优惠我会第一时间通知您。",
    ),
    "not_in_area": (
        "拉杆箱·不在活动范围",
        "抱歉，您所在的区县暂时不在这次活动的范围内，有新的活动我再通知您。",
    ),
    "closed": (
        "拉杆箱·活动未进行",
        "抱歉，活动现在没有在进行，开始后我第一时间通知您。",
    ),
    "style_retry": (
        "拉杆箱·请回复编号",
        "请回复朋友圈里款式前面的编号数字，例如 1。",
    ),
    "style_reminder": (
        "拉杆箱·提醒选款",
        "{昵称}，款式选好了吗？回复编号就可以，名额有限哦。",
    ),
    "reward_issued": (
        "拉杆箱·登记成功",
        "登记成功！您的{奖品}（{款式}）会尽快安排寄出，物流信息我会发给您。",
    ),
    "group_invite": (
        "拉杆箱·邀请进群",
        "另外邀请您进我们的福利优惠券群，每天都有专属优惠：{群链接}",
    ),
    "no_reward": (
        "拉杆箱·奖品已发完",
        "抱歉，奖品刚刚发完了。我帮您转给同事看看还有没有别的安排，请稍等。",
    ),
}

SHARE_SCRIPTS: dict[str, tuple[str, str]] = {
    "share_instruction": (
        "拉杆箱·转发海报（种子原文）",
        "您选的是{款式}。请把活动海报转发给 80 位以上好友，"
        "转发超过 150 位额外赠送小米手环一个，转发完成后把截图发给我。海报：{海报}",
    ),
    "proof_upload": (
        "拉杆箱·上传截图",
        "转发截图请在这里上传：{上传链接}\n上传好了回复我“好了”。",
    ),
    "proof_pending": (
        "拉杆箱·截图审核中",
        "截图还在审核，通过后马上为您登记；也可以重新上传完整的转发截图：{上传链接}",
    ),
}

INVITE_SCRIPTS: dict[str, tuple[str, str]] = {
    "invite_instruction": (
        "拉杆箱·专属邀请码",
        "您选的是{款式}。这是您的专属邀请链接：{链接}\n"
        "邀请新朋友通过它添加我，达到活动要求的人数，拉杆箱就给您寄出。"
        "进度可以在这里查看：{我的活动}，也可以随时回复“进度”。",
    ),
    "progress": (
        "拉杆箱·邀请进度",
        "还没有达到活动要求的人数哦，继续加油！进度在这里：{我的活动}",
    ),
    "invite_reminder": (
        "拉杆箱·邀请提醒",
        "{昵称}，您的邀请进度怎么样了？回复“进度”我帮您查。",
    ),
}


def _head(ids: Mapping[str, int], after_join: str) -> list[dict[str, Any]]:
    return [
        {"id": "greeting", "type": "send", "script_id": ids["greeting"]},
        {
            "id": "ask_district",
            "type": "wait",
            "save_as": "区县",
            "match": [{"kind": "any", "next": "check_quota"}],
            "reminder_minutes": 120,
            "max_reminders": 1,
            "reminder_script_id": ids["ask_district_reminder"],
            "timeout_minutes": DAY,
            "on_timeout": "end",
        },
        {
            "id": "check_quota",
            "type": "action",
            "action": "campaign.check_quota",
            "params": {"district": "{区县}"},
            "on": {
                "available": "show_styles",
                "sold_out": "sold_out",
                "not_in_campaign": "not_in_area",
            },
        },
        {"id": "sold_out", "type": "send", "script_id": ids["sold_out"], "next": "join_group"},
        {"id": "not_in_area", "type": "send", "script_id": ids["not_in_area"], "next": "end"},
        {"id": "show_styles", "type": "send", "script_id": ids["quota_ok"]},
        {
            "id": "take_style",
            "type": "wait",
            "save_as": "款式编号",
            "match": [{"kind": "number", "min": 1, "max": 20, "next": "choose_style"}],
            "retry_script_id": ids["style_retry"],
            "max_retries": 3,
            "reminder_minutes": 180,
            "max_reminders": 1,
            "reminder_script_id": ids["style_reminder"],
            "timeout_minutes": 2 * DAY,
            "on_timeout": "end",
        },
        {
            "id": "choose_style",
            "type": "action",
            "action": "campaign.choose_style",
            "params": {"reply": "{款式编号}"},
            "on": {"ok": "join", "invalid": "style_again"},
        },
        {
            "id": "join",
            "type": "action",
            "action": "campaign.join",
            "on": {"ok": after_join, "not_running": "closed", "not_in_campaign": "not_in_area"},
        },
    ]


def _tail(ids: Mapping[str, int], not_yet: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "issue_reward",
            "type": "action",
            "action": "campaign.issue_reward",
            "on": {
                "issued": "reward_issued",
                "already": "join_group",
                "sold_out": "no_reward",
                "not_eligible": not_yet,
            },
        },
        {"id": "reward_issued", "type": "send", "script_id": ids["reward_issued"]},
        {
            "id": "join_group",
            "type": "action",
            "action": "campaign.invite_to_group",
            "on": {"ok": "group_sent", "no_group": "end"},
        },
        {"id": "group_sent", "type": "send", "script_id": ids["group_invite"], "next": "end"},
        {"id": "no_reward", "type": "handover", "text": "奖品库存不足，请人工处理"},
        {
            "id": "style_again",
            "type": "send",
            "script_id": ids["style_retry"],
            "next": "take_style",
        },
        {"id": "closed", "type": "send", "script_id": ids["closed"], "next": "end"},
        {"id": "end", "type": "end"},
    ]


def _share_steps(ids: Mapping[str, int]) -> list[dict[str, Any]]:
    return [
        *_head(ids, "share_instruction"),
        {"id": "share_instruction", "type": "send", "script_id": ids["share_instruction"]},
        {
            "id": "request_proof",
            "type": "action",
            "action": "campaign.request_proof",
            "on": {"ok": "proof_upload", "not_needed": "wait_proof"},
            "next": "end",
        },
        {"id": "proof_upload", "type": "send", "script_id": ids["proof_upload"]},
        {
            "id": "wait_proof",
            "type": "wait",
            "match": [{"kind": "any", "next": "issue_reward"}],
            "reminder_minutes": 360,
            "max_reminders": 1,
            "reminder_text": "转发完成后记得上传截图，上传好了回复我“好了”。",
            "timeout_minutes": 3 * DAY,
            "on_timeout": "end",
        },
        {
            "id": "proof_pending",
            "type": "send",
            "script_id": ids["proof_pending"],
            "next": "wait_proof",
        },
        *_tail(ids, "proof_pending"),
    ]


def _invite_steps(ids: Mapping[str, int]) -> list[dict[str, Any]]:
    return [
        *_head(ids, "invite_instruction"),
        {"id": "invite_instruction", "type": "send", "script_id": ids["invite_instruction"]},
        {
            "id": "wait_progress",
            "type": "wait",
            "match": [{"kind": "any", "next": "issue_reward"}],
            "reminder_minutes": DAY,
            "max_reminders": 2,
            "reminder_script_id": ids["invite_reminder"],
            "timeout_minutes": 7 * DAY,
            "on_timeout": "end",
        },
        {"id": "progress", "type": "send", "script_id": ids["progress"], "next": "wait_progress"},
        *_tail(ids, "progress"),
    ]


SETTINGS = {"retry_text": "抱歉没看懂，请按提示回复。", "max_retries": 3}

TEMPLATES: dict[str, Template] = {
    "luggage_share": Template(
        key="luggage_share",
        name="拉杆箱免费领（转发截图版，种子原文）",
        description="种子文章的流程：问区县→查名额→选款式→转发海报并发截图→发奖→进福利群。"
        "转发截图属于诱导分享，高风险，需管理员确认。",
        category="拉杆箱活动",
        scripts={**COMMON_SCRIPTS, **SHARE_SCRIPTS},
        steps=_share_steps,
        settings=SETTINGS,
    ),
    "luggage_invite": Template(
        key="luggage_invite",
        name="拉杆箱免费领（专属邀请码版）",
        description="问区县→查名额→选款式→发专属邀请链接，邀请新好友添加（系统核验人数）"
        "→发奖→进福利群。",
        category="拉杆箱活动",
        scripts={**COMMON_SCRIPTS, **INVITE_SCRIPTS},
        steps=_invite_steps,
        settings=SETTINGS,
    ),
}

TEMPLATE_LABELS = {key: template.name for key, template in TEMPLATES.items()}
