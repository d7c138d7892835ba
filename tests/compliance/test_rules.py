"""The compliance lint: every rule, its exceptions, and recall / false positives on the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.compliance.rules import (
    CATEGORY_LABELS,
    RULES,
    Category,
    Severity,
    TextKind,
    blocking,
    lint,
    worst,
)

HERE = Path(__file__).parent


def load(name: str) -> list[tuple[frozenset[str], str]]:
    rows = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expected, text = line.split("\t", 1)
        rows.append((frozenset() if expected == "ok" else frozenset(expected.split(",")), text))
    return rows


def detected(text: str) -> set[str]:
    """Categories found at warn or block level (the ad label is info and context-dependent)."""
    return {f.category.value for f in lint(text, TextKind.SCRIPT) if f.severity >= Severity.WARN}


def measure(rows: list[tuple[frozenset[str], str]]) -> tuple[float, float, list[str]]:
    violating = [(expected, text) for expected, text in rows if expected]
    compliant = [text for expected, text in rows if not expected]
    missed = [text for expected, text in violating if not expected & detected(text)]
    flagged = [text for text in compliant if detected(text)]
    recall = 1 - len(missed) / len(violating)
    false_positive_rate = len(flagged) / len(compliant)
    return recall, false_positive_rate, missed + flagged


class TestCorpus:
    def test_corpus_is_large_and_balanced(self) -> None:
        rows = load("corpus.tsv")
        assert len(rows) >= 200
        categories = {category for expected, _ in rows for category in expected}
        assert categories == {c.value for c in Category} - {Category.AD_LABEL.value}
        assert 0.4 <= sum(1 for expected, _ in rows if not expected) / len(rows) <= 0.6

    def test_recall_at_least_95_percent_and_false_positives_at_most_5_percent(self) -> None:
        recall, false_positives, wrong = measure(load("corpus.tsv"))
        print(f"corpus: recall={recall:.1%} false_positive_rate={false_positives:.1%}")
        assert recall >= 0.95, wrong
        assert false_positives <= 0.05, wrong

    def test_holdout_does_not_regress(self, capsys: pytest.CaptureFixture[str]) -> None:
        # Written after the rules and never used to tune them: an honest estimate of how the lint
        # does on new copy (79 % recall, 5 % false positives when written). The floor only
        # catches a rule change that breaks generalisation; it is not the product target.
        rows = load("holdout.tsv")
        recall, false_positives, _wrong = measure(rows)
        with capsys.disabled():
            print(
                f"\ncompliance holdout: recall={recall:.0%} false positives={false_positives:.0%}"
            )
        assert len(rows) >= 35
        assert recall >= 0.7
        assert false_positives <= 0.1


class TestRules:
    @pytest.mark.parametrize(
        ("text", "rule_id"),
        [
            ("分享到3个群即可免费领取", "share_count_target"),
            ("转发朋友圈后即可领取", "share_for_reward"),
            ("集满30个赞送礼品", "collect_likes"),
            ("找好友助力，助力满5人免单", "friend_boost"),
            ("帮我砍一刀", "bargain_chop"),
            ("分享后截图发给我", "screenshot_proof"),
            ("不转不是中国人", "moral_pressure"),
            ("关注公众号即可领取", "follow_for_reward"),
            ("邀请3位好友即可领取", "invite_for_reward"),
            ("最佳选择", "superlative"),
            ("全网最低价", "lowest_price"),
            ("销量第一", "number_one"),
            ("国家级品质", "supreme_terms"),
            ("100%有效", "guarantee"),
            ("能降血压", "treatment"),
            ("原价199现价59", "reference_price"),
            ("跳楼价甩卖", "unfounded_price"),
            ("明天就涨价", "false_urgency"),
            ("免费领，只需支付8元邮费", "free_but_pay"),
        ],
    )
    def test_each_rule_fires_on_its_example(self, text: str, rule_id: str) -> None:
        assert rule_id in {finding.rule_id for finding in lint(text)}

    def test_every_rule_has_an_example_above(self) -> None:
        examples = TestRules.test_each_rule_fires_on_its_example.pytestmark[0].args[1]  # type: ignore[attr-defined]
        assert {rule_id for _text, rule_id in examples} == {rule.id for rule in RULES}

    @pytest.mark.parametrize(
        "text",
        [
            "分享给需要的朋友",
            "转发请注明出处",
            "第一次购买送小样",
            "第一件原价，第二件半价",
            "最好提前下单",
            "助力乡村振兴",
            "谢绝砍价",
            "最多可减50元",
            "关注我们获取更多资讯",
        ],
    )
    def test_lookalike_compliant_phrasings_pass(self, text: str) -> None:
        assert lint(text) == []

    def test_every_rule_names_its_regulation_and_a_fix(self) -> None:
        for rule in RULES:
            assert rule.regulation.startswith("《"), rule.id
            assert rule.suggestion_zh, rule.id
            assert rule.message_zh, rule.id
            assert rule.category in CATEGORY_LABELS

    def test_full_width_look_alikes_are_caught(self) -> None:
        assert [f.rule_id for f in lint("ＮＯ．１爆款")] == ["number_one"]

    def test_findings_in_text_order_with_excerpts_from_the_original(self) -> None:
        findings = lint("销量第一，转发到3个群后领取，原价99")
        assert [f.rule_id for f in findings] == [
            "number_one",
            "share_count_target",
            "share_for_reward",
            "reference_price",
        ]
        assert findings[0].start == 0
        assert "，" in findings[0].excerpt
        assert worst(findings) == Severity.BLOCK
        assert len(blocking(findings)) == 3

    def test_empty_text(self) -> None:
        assert lint("") == []
        assert worst([]) is None


class TestAdLabel:
    AD = "券后59元，点击链接下单"

    @pytest.mark.parametrize("kind", [TextKind.BROADCAST, TextKind.MOMENT, TextKind.POSTER])
    def test_priced_promotion_without_label_is_noted(self, kind: TextKind) -> None:
        [finding] = lint(self.AD, kind)
        assert (finding.rule_id, finding.severity) == ("ad_label_missing", Severity.INFO)

    @pytest.mark.parametrize("kind", [TextKind.SCRIPT, TextKind.CAMPAIGN])
    def test_one_to_one_replies_need_no_label(self, kind: TextKind) -> None:
        assert lint(self.AD, kind) == []

    @pytest.mark.parametrize(
        "text", ["【广告】券后59元，点击链接下单", "推广｜券后59元，点击链接下单", "券后59元"]
    )
    def test_labelled_or_without_a_way_to_buy(self, text: str) -> None:
        assert lint(text, TextKind.MOMENT) == []
