"""Region and tier lookups over the shipped data (pure: no database)."""

from __future__ import annotations

import pytest

from siyu.regions import rules
from siyu.regions.rules import (
    CityTier,
    RegionCodeInvalid,
    RegionLevel,
    RegionNameAmbiguous,
    RegionNameUnknown,
    RegionTable,
    RegionUnknown,
    TierInvalid,
    TierTable,
    TierTableInvalid,
)

REGIONS = rules.shipped_regions()
TIERS = rules.shipped_tiers()


class TestShippedData:
    def test_counts_of_each_level(self) -> None:
        levels = [region.level for region in REGIONS.regions.values()]
        assert levels.count(RegionLevel.PROVINCE) == 31
        assert levels.count(RegionLevel.CITY) == 342
        assert levels.count(RegionLevel.DISTRICT) == 2975
        assert len(REGIONS.children()) == 31

    def test_every_code_has_its_parent(self) -> None:
        for region in REGIONS.regions.values():
            if region.parent_code is not None:
                assert region.parent_code in REGIONS.regions, region

    def test_tier_counts_match_the_2023_list(self) -> None:
        counts = {tier: 0 for tier in CityTier}
        for tier in TIERS.tiers.values():
            counts[tier] += 1
        assert counts[CityTier.TIER_1] == 4
        assert counts[CityTier.NEW_TIER_1] == 15
        assert counts[CityTier.TIER_2] == 30
        assert counts[CityTier.TIER_3] == 70
        assert counts[CityTier.TIER_4] == 90
        # 337 ranked cities = 333 prefecture-level + 4 municipalities: the other 128 are 五线.
        cities = [
            code
            for code, region in REGIONS.regions.items()
            if region.level == RegionLevel.CITY and not region.is_grouping
        ]
        assert len(cities) + 4 == 337
        fifth = [code for code in cities if rules.tier_of(REGIONS, TIERS, code) == CityTier.TIER_5]
        assert len(fifth) == 128

    def test_tier_file_names_match_the_division_names(self) -> None:
        text = rules._data_text("city_tiers.tsv")
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            code, name, _tier = line.split("\t")
            assert REGIONS.get(code).name == name


class TestCodes:
    def test_get_a_district(self) -> None:
        region = REGIONS.get("330106")
        assert (region.name, region.level, region.parent_code) == (
            "西湖区",
            RegionLevel.DISTRICT,
            "330100",
        )

    def test_code_is_stripped(self) -> None:
        assert REGIONS.validate(" 330106 ") == "330106"

    @pytest.mark.parametrize("value", ["", "33010", "3301066", "33O106", "浙江"])
    def test_malformed_code(self, value: str) -> None:
        with pytest.raises(RegionCodeInvalid) as error:
            REGIONS.get(value)
        assert error.value.params == {"value": value}

    @pytest.mark.parametrize("value", ["999999", "330199", "000000", "710000"])
    def test_unknown_code(self, value: str) -> None:
        with pytest.raises(RegionUnknown) as error:
            REGIONS.get(value)
        assert error.value.zh == f"地区编码“{value}”不存在，请从省、市、区县列表中选择。"

    def test_is_known(self) -> None:
        assert REGIONS.is_known("110105")
        assert not REGIONS.is_known("110199")

    def test_level_and_parent_of_code(self) -> None:
        assert rules.level_of_code("330000") == RegionLevel.PROVINCE
        assert rules.level_of_code("330100") == RegionLevel.CITY
        assert rules.level_of_code("330106") == RegionLevel.DISTRICT
        assert rules.parent_code_of("330000") is None
        assert rules.parent_code_of("330100") == "330000"
        assert rules.parent_code_of("330106") == "330100"

    def test_code_range(self) -> None:
        assert rules.code_range("330000") == ("330000", "339999")
        assert rules.code_range("330100") == ("330100", "330199")
        assert rules.code_range("330106") == ("330106", "330106")


class TestNames:
    def test_full_names(self) -> None:
        assert REGIONS.full_name("330106") == "浙江省杭州市西湖区"
        assert REGIONS.full_name("110105") == "北京市朝阳区"
        assert REGIONS.full_name("500229") == "重庆市城口县"
        assert REGIONS.full_name("429004") == "湖北省仙桃市"
        assert REGIONS.full_name("441900") == "广东省东莞市"
        assert REGIONS.full_name("330000") == "浙江省"

    def test_municipal_groupings_show_the_municipality(self) -> None:
        assert REGIONS.get("110100").display_name == "北京市"
        assert REGIONS.get("500200").display_name == "重庆市（县）"
        assert REGIONS.get("330100").display_name == "杭州市"

    def test_path_and_parents(self) -> None:
        assert [region.code for region in REGIONS.path("330106")] == [
            "330000",
            "330100",
            "330106",
        ]
        assert REGIONS.province_of("330106").name == "浙江省"
        city = REGIONS.city_of("330106")
        assert city is not None
        assert city.name == "杭州市"
        assert REGIONS.city_of("330000") is None

    def test_children(self) -> None:
        hangzhou = [region.name for region in REGIONS.children("330100")]
        assert hangzhou[:3] == ["上城区", "拱墅区", "西湖区"]
        assert REGIONS.children("330106") == []
        with pytest.raises(RegionUnknown):
            REGIONS.children("339900")

    def test_contains(self) -> None:
        assert REGIONS.contains("330000", "330106")
        assert REGIONS.contains("330100", "330106")
        assert REGIONS.contains("330106", "330106")
        assert not REGIONS.contains("330100", "330206")
        assert not REGIONS.contains("330106", "330100")

    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("浙江省", "330000"),
            ("浙江", "330000"),
            ("广西", "450000"),
            ("内蒙古", "150000"),
            ("杭州", "330100"),
            ("杭州市", "330100"),
            ("延边", "222400"),
            ("伊犁", "654000"),
            ("博尔塔拉", "652700"),
            ("黔东南", "522600"),
            ("大兴安岭", "232700"),
            ("北京", "110000"),
            ("吉林", "220000"),
            ("吉林市", "220200"),
        ],
    )
    def test_find_by_name(self, name: str, code: str) -> None:
        assert REGIONS.find(name).code == code

    def test_find_within_a_parent(self) -> None:
        assert REGIONS.find("朝阳区", within="110000").code == "110105"
        assert REGIONS.find("朝阳区", within="220100").code == "220104"

    def test_ambiguous_name_lists_the_candidates(self) -> None:
        with pytest.raises(RegionNameAmbiguous) as error:
            REGIONS.find("朝阳区")
        assert error.value.params["candidates"] == "110105, 220104"
        assert "北京市朝阳区、吉林省长春市朝阳区" in error.value.zh

    def test_unknown_name(self) -> None:
        with pytest.raises(RegionNameUnknown):
            REGIONS.find("火星市")
        with pytest.raises(RegionNameUnknown):
            REGIONS.find("西湖区", within="110000")

    @pytest.mark.parametrize(
        ("name", "forms"),
        [
            ("浙江省", {"浙江"}),
            ("延边朝鲜族自治州", {"延边"}),
            ("黔东南苗族侗族自治州", {"黔东南"}),
            ("伊犁哈萨克自治州", {"伊犁"}),
            ("克孜勒苏柯尔克孜自治州", {"克孜勒苏"}),
            ("城区", set()),
            ("朝阳区", {"朝阳"}),
            ("三都水族自治县", {"三都"}),
        ],
    )
    def test_short_names(self, name: str, forms: set[str]) -> None:
        assert rules.short_names(name) == forms


class TestAddresses:
    @pytest.mark.parametrize(
        ("address", "code"),
        [
            ("浙江省杭州市西湖区文三路 100 号", "330106"),
            ("浙江杭州西湖区", "330106"),
            ("杭州市西湖区", "330106"),
            ("北京市朝阳区建国路 88 号", "110105"),
            ("重庆市城口县", "500229"),
            ("广东省东莞市南城街道", "441900"),
            ("湖北省仙桃市", "429004"),
            ("浙江省", "330000"),
            ("江苏省苏州市", "320500"),
        ],
    )
    def test_parse(self, address: str, code: str) -> None:
        region = REGIONS.parse_address(address)
        assert region is not None
        assert region.code == code

    @pytest.mark.parametrize("address", ["", "火星基地 1 号", "路边"])
    def test_nothing_found(self, address: str) -> None:
        assert REGIONS.parse_address(address) is None


class TestTiers:
    @pytest.mark.parametrize(
        ("code", "tier"),
        [
            ("110000", CityTier.TIER_1),  # a municipality
            ("110100", CityTier.TIER_1),  # its 市辖区 grouping
            ("110105", CityTier.TIER_1),  # 北京 朝阳区
            ("440300", CityTier.TIER_1),
            ("330100", CityTier.NEW_TIER_1),
            ("330106", CityTier.NEW_TIER_1),  # an urban district takes its city's tier
            ("500101", CityTier.NEW_TIER_1),  # 重庆 万州区
            ("441900", CityTier.NEW_TIER_1),  # 东莞: no districts
            ("440600", CityTier.TIER_2),  # 佛山
            ("321000", CityTier.TIER_3),  # 扬州
            ("331100", CityTier.TIER_4),  # 丽水
            ("360600", CityTier.TIER_5),  # 鹰潭, not listed
            ("330122", CityTier.TIER_6),  # 桐庐县
            ("320581", CityTier.TIER_6),  # 常熟市 (county-level city)
            ("500229", CityTier.TIER_6),  # 重庆 城口县
            ("500200", CityTier.TIER_6),  # 重庆's 县 grouping
            ("429004", CityTier.TIER_6),  # 仙桃 (directly under the province)
            ("520203", CityTier.TIER_6),  # 六枝特区
            ("152502", CityTier.TIER_6),  # 锡林浩特市
        ],
    )
    def test_tier_of(self, code: str, tier: CityTier) -> None:
        assert rules.tier_of(REGIONS, TIERS, code) == tier

    def test_a_province_has_no_tier(self) -> None:
        assert rules.tier_of(REGIONS, TIERS, "330000") is None

    def test_override_wins_and_reaches_the_districts(self) -> None:
        table = TIERS.with_overrides({"360600": CityTier.TIER_3, "330122": CityTier.TIER_5})
        assert rules.tier_of(REGIONS, table, "360600") == CityTier.TIER_3
        assert rules.tier_of(REGIONS, table, "360602") == CityTier.TIER_3  # 月湖区
        assert rules.tier_of(REGIONS, table, "330122") == CityTier.TIER_5
        assert rules.tier_of(REGIONS, TIERS, "360600") == CityTier.TIER_5  # the original kept

    def test_codes_in_tiers(self) -> None:
        codes = rules.codes_in_tiers(REGIONS, TIERS, [CityTier.TIER_1])
        assert "110000" in codes
        assert "110100" in codes
        assert "110105" in codes
        assert "440305" in codes  # 深圳 南山区
        assert "330100" not in codes
        assert all(rules.tier_of(REGIONS, TIERS, code) == CityTier.TIER_1 for code in codes)
        assert codes == sorted(codes)

    def test_codes_in_no_tier(self) -> None:
        assert rules.codes_in_tiers(REGIONS, TIERS, []) == []

    @pytest.mark.parametrize(
        ("text", "tier"),
        [("tier_3", CityTier.TIER_3), ("三线", CityTier.TIER_3), (" 新一线 ", CityTier.NEW_TIER_1)],
    )
    def test_parse_tier(self, text: str, tier: CityTier) -> None:
        assert rules.parse_tier(text) == tier

    def test_parse_tier_refuses_unknown(self) -> None:
        with pytest.raises(TierInvalid):
            rules.parse_tier("七线")

    def test_tier_table_from_text(self) -> None:
        table = TierTable.from_text("# comment\n360600\t鹰潭市\t三线\n\n331100\ttier_2\n", REGIONS)
        assert dict(table.tiers) == {"360600": CityTier.TIER_3, "331100": CityTier.TIER_2}

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("360600", "expected code<TAB>[name<TAB>]tier"),
            (
                "999900\t三线",
                "Unknown region code '999900' (not in the 2023 national division codes)",
            ),
            ("360600\t七线", "Unknown city tier '七线'"),
            (
                "330000\t三线",
                "330000 is not a city: tiers are set on cities, municipalities or counties",
            ),
            (
                "110100\t三线",
                "110100 is not a city: tiers are set on cities, municipalities or counties",
            ),
        ],
    )
    def test_tier_table_errors(self, text: str, why: str) -> None:
        with pytest.raises(TierTableInvalid) as error:
            TierTable.from_text(f"# header\n{text}\n", REGIONS)
        assert error.value.params["line"] == 2
        assert error.value.params["why"].rstrip(".") == why


class TestTableBuilding:
    def test_orphan_code_is_refused(self) -> None:
        with pytest.raises(RegionUnknown):
            RegionTable.from_rows([("330000", "浙江省"), ("330206", "北仑区")])

    def test_malformed_row_is_refused(self) -> None:
        with pytest.raises(RegionCodeInvalid):
            RegionTable.from_rows([("3300", "浙江省")])
