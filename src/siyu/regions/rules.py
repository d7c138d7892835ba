"""Regions and city tiers: pure lookups over the shipped division data. No database.

Region codes are the 6-digit national division codes (国家统计局 统计用区划代码): ``XX0000`` a
province, ``XXYY00`` a prefecture-level city (or a municipality's grouping such as 北京 "市辖区"),
anything else a county-level division. The data file and its provenance are in ``data/`` and
docs/regions.md.

City tiers: a ``TierTable`` maps city codes (municipalities by their province code) to a tier;
prefecture-level cities it does not list are 五线; county-level divisions (县, 县级市, 旗, 特区,
林区) are 六线; urban districts take their city's tier.

The validation errors live here because these functions raise them (the service imports this
module).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Final

from siyu.errors import ValidationFailed

CODE_PATTERN: Final = re.compile(r"^\d{6}$")
# Groupings that are not cities of their own (the municipalities' districts and counties, the
# county-level cities directly under a province).
MUNICIPAL_GROUPINGS: Final = frozenset({"市辖区", "县"})
DIRECT_COUNTY_GROUPINGS: Final = frozenset({"省直辖县级行政区划", "自治区直辖县级行政区划"})
COUNTY_LEVEL_SUFFIXES: Final = ("县", "旗", "市", "特区", "林区")
ADDRESS_MAX_LENGTH: Final = 500

# Ethnic-group names that end the long names of autonomous prefectures and counties
# (延边朝鲜族自治州 → 延边), used to build the short names people type.
_ETHNIC_TEXT: Final = (
    "朝鲜 土家 苗 布依 哈尼 彝 藏 羌 傣 景颇 傈僳 白"
    " 壮 回 蒙古 哈萨克 柯尔克孜 维吾尔 黎 侗 瑶 畲 满 达斡尔"
    " 鄂温克 鄂伦春 锡伯 塔吉克 仡佬 水 纳西 拉祜 佤 布朗 独龙 怒"
    " 普米 阿昌 基诺 德昂 毛南 仫佬 京 土 撒拉 保安 东乡 裕固"
    " 各"
)
_ETHNIC_NAMES: Final = tuple(sorted(_ETHNIC_TEXT.split(), key=len, reverse=True))
_LONG_SUFFIXES: Final = (
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "林区",
    "特区",
    "省",
    "市",
    "盟",
    "区",
    "县",
    "旗",
)


class RegionCodeInvalid(ValidationFailed):
    code = "region_code_invalid"
    message_en = "A region code has 6 digits, got {value!r}."
    message_zh = "地区编码应为 6 位数字，您输入的是“{value}”。"


class RegionUnknown(ValidationFailed):
    code = "region_unknown"
    message_en = "Unknown region code {value!r} (not in the 2023 national division codes)."
    message_zh = "地区编码“{value}”不存在，请从省、市、区县列表中选择。"


class RegionNameUnknown(ValidationFailed):
    code = "region_name_unknown"
    message_en = "No region is named {value!r}."
    message_zh = "找不到名为“{value}”的地区，请检查名称或从列表中选择。"


class RegionNameAmbiguous(ValidationFailed):
    code = "region_name_ambiguous"
    message_en = "Several regions are named {value!r}: {candidates}."
    message_zh = "有多个地区名为“{value}”（{candidates_zh}），请同时填写所属省市。"


class TierInvalid(ValidationFailed):
    code = "tier_invalid"
    message_en = "Unknown city tier {value!r}."
    message_zh = "城市等级“{value}”不正确。"


class TierTableInvalid(ValidationFailed):
    code = "tier_table_invalid"
    message_en = "City tier table line {line}: {why}."
    message_zh = "城市等级表第 {line} 行有误：{why}。"


class RegionLevel(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"


REGION_LEVEL_LABELS: Final = {
    RegionLevel.PROVINCE: "省",
    RegionLevel.CITY: "市",
    RegionLevel.DISTRICT: "区县",
}


class CityTier(enum.StrEnum):
    TIER_1 = "tier_1"
    NEW_TIER_1 = "new_tier_1"
    TIER_2 = "tier_2"
    TIER_3 = "tier_3"
    TIER_4 = "tier_4"
    TIER_5 = "tier_5"
    TIER_6 = "tier_6"


CITY_TIER_LABELS: Final = {
    CityTier.TIER_1: "一线",
    CityTier.NEW_TIER_1: "新一线",
    CityTier.TIER_2: "二线",
    CityTier.TIER_3: "三线",
    CityTier.TIER_4: "四线",
    CityTier.TIER_5: "五线",
    CityTier.TIER_6: "六线",
}
# The product's "下沉市场" share (product.md §2, measurement): tier-3 to tier-6 cities.
LOWER_TIERS: Final = frozenset({CityTier.TIER_3, CityTier.TIER_4, CityTier.TIER_5, CityTier.TIER_6})


def parse_tier(value: str) -> CityTier:
    text = value.strip()
    for tier, label in CITY_TIER_LABELS.items():
        if text in (tier.value, label):
            return tier
    raise TierInvalid(value=value)


def level_of_code(code: str) -> RegionLevel:
    if code.endswith("0000"):
        return RegionLevel.PROVINCE
    if code.endswith("00"):
        return RegionLevel.CITY
    return RegionLevel.DISTRICT


def parent_code_of(code: str) -> str | None:
    level = level_of_code(code)
    if level == RegionLevel.PROVINCE:
        return None
    if level == RegionLevel.CITY:
        return code[:2] + "0000"
    return code[:4] + "00"


def code_range(code: str) -> tuple[str, str]:
    """The inclusive range of codes inside ``code`` (itself included), for indexed range scans."""
    level = level_of_code(code)
    if level == RegionLevel.PROVINCE:
        return code, code[:2] + "9999"
    if level == RegionLevel.CITY:
        return code, code[:4] + "99"
    return code, code


def short_names(name: str) -> set[str]:
    """The forms people type for ``name``: 浙江省 → 浙江, 延边朝鲜族自治州 → 延边 (≥ 2 chars)."""
    forms: set[str] = set()
    for suffix in _LONG_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = _strip_ethnic(name[: -len(suffix)])
            if len(stem) >= 2:
                forms.add(stem)
            break
    forms.discard(name)
    return forms


def _strip_ethnic(stem: str) -> str:
    while True:
        changed = False
        if stem.endswith("族"):
            for ethnic in _ETHNIC_NAMES:
                if stem[:-1].endswith(ethnic) and len(stem) - 1 > len(ethnic):
                    stem = stem[: -1 - len(ethnic)]
                    changed = True
                    break
        else:
            # 伊犁哈萨克自治州, 博尔塔拉蒙古自治州: multi-character names appear without 族.
            for ethnic in _ETHNIC_NAMES:
                if len(ethnic) >= 2 and stem.endswith(ethnic) and len(stem) > len(ethnic) + 1:
                    stem = stem[: -len(ethnic)]
                    changed = True
                    break
        if not changed:
            return stem


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None
    # What a person reads: a municipality's "市辖区" grouping shows as "北京市".
    display_name: str

    @property
    def is_grouping(self) -> bool:
        """A city-level code that is not a city (市辖区, 县, 省直辖县级行政区划)."""
        return self.level == RegionLevel.CITY and (
            self.name in MUNICIPAL_GROUPINGS or self.name in DIRECT_COUNTY_GROUPINGS
        )


@dataclass
class RegionTable:
    """Every division by code, with children and the name index. Build once; never mutate."""

    regions: dict[str, Region]
    children_of: dict[str | None, list[str]] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    municipalities: set[str] = field(default_factory=set)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> RegionTable:
        names = dict(rows)
        regions: dict[str, Region] = {}
        for code in sorted(names):
            if not CODE_PATTERN.match(code):
                raise RegionCodeInvalid(value=code)
            parent = parent_code_of(code)
            if parent is not None and parent not in names:
                raise RegionUnknown(value=parent)
            name = names[code]
            display = name
            if level_of_code(code) == RegionLevel.CITY and name in MUNICIPAL_GROUPINGS:
                province = names[code[:2] + "0000"]
                display = province if name == "市辖区" else f"{province}（{name}）"
            regions[code] = Region(code, name, level_of_code(code), parent, display)
        table = cls(regions)
        for region in regions.values():
            table.children_of.setdefault(region.parent_code, []).append(region.code)
            if region.is_grouping:
                if region.name == "市辖区":
                    table.municipalities.add(region.code[:2] + "0000")
                continue
            for form in {region.name, *short_names(region.name)}:
                table.by_name.setdefault(form, []).append(region.code)
        return table

    @classmethod
    def from_text(cls, text: str) -> RegionTable:
        rows: list[tuple[str, str]] = []
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            code, _, name = line.partition("\t")
            rows.append((code.strip(), name.strip()))
        return cls.from_rows(rows)

    # --- lookups ----------------------------------------------------------------------------

    def validate(self, code: str) -> str:
        """The code, stripped, when it is a known division; a clear error otherwise."""
        cleaned = code.strip()
        if not CODE_PATTERN.match(cleaned):
            raise RegionCodeInvalid(value=code)
        if cleaned not in self.regions:
            raise RegionUnknown(value=cleaned)
        return cleaned

    def get(self, code: str) -> Region:
        return self.regions[self.validate(code)]

    def is_known(self, code: str) -> bool:
        return code in self.regions

    def children(self, code: str | None = None) -> list[Region]:
        """Provinces for ``None``; otherwise the direct children, in code order."""
        if code is not None:
            code = self.validate(code)
        return [self.regions[child] for child in self.children_of.get(code, [])]

    def path(self, code: str) -> list[Region]:
        """Province first, then city, then district (as deep as the code goes)."""
        region = self.get(code)
        chain = [region]
        while chain[-1].parent_code is not None:
            chain.append(self.regions[chain[-1].parent_code])
        return chain[::-1]

    def full_name(self, code: str) -> str:
        """浙江省杭州市西湖区; 北京市朝阳区 (a municipality's grouping is not repeated)."""
        return "".join(region.name for region in self.path(code) if not region.is_grouping)

    def province_of(self, code: str) -> Region:
        return self.path(code)[0]

    def city_of(self, code: str) -> Region | None:
        chain = self.path(code)
        return chain[1] if len(chain) > 1 else None

    def contains(self, outer: str, inner: str) -> bool:
        """Whether ``inner`` lies in ``outer`` (a region contains itself)."""
        low, high = code_range(self.validate(outer))
        return low <= self.validate(inner) <= high

    def find(self, name: str, within: str | None = None) -> Region:
        """Name → region: full names and short forms (杭州, 浙江, 延边), optionally within a
        parent region; several matches are an error that lists them."""
        text = name.strip()
        candidates = list(self.by_name.get(text, []))
        if within is not None:
            candidates = [code for code in candidates if self.contains(within, code)]
        if not candidates:
            raise RegionNameUnknown(value=name)
        if len(candidates) > 1:
            # A higher level wins over a namesake below it inside that very region
            # (北京 → 北京市, not 北京市's districts); anything else is truly ambiguous.
            top = min(candidates, key=lambda code: list(RegionLevel).index(level_of_code(code)))
            if all(code == top or self.contains(top, code) for code in candidates):
                return self.regions[top]
            listed = "、".join(self.full_name(code) for code in candidates[:5])
            raise RegionNameAmbiguous(
                value=name, candidates=", ".join(candidates[:5]), candidates_zh=listed
            )
        return self.regions[candidates[0]]

    def parse_address(self, text: str) -> Region | None:
        """The deepest region an address starts with (浙江省杭州市西湖区文三路 → 西湖区), or None.

        Provinces may be left out (杭州市西湖区…); names may be short forms (浙江杭州西湖区).
        """
        rest = text.strip()[:ADDRESS_MAX_LENGTH]
        found: Region | None = None
        scope = list(self.children_of.get(None, []))
        # Without a province, a city may open the address (杭州市…).
        first, rest_after = self._match_prefix(rest, scope)
        if first is None:
            cities = [code for code, item in self.regions.items() if item.level == RegionLevel.CITY]
            first, rest_after = self._match_prefix(rest, cities)
        while first is not None:
            found = first
            rest = rest_after
            scope = self._visible_children(first.code)
            first, rest_after = self._match_prefix(rest, scope)
        return found

    def _visible_children(self, code: str) -> list[str]:
        """Children, with groupings (市辖区) replaced by their own children."""
        result: list[str] = []
        for child in self.children_of.get(code, []):
            if self.regions[child].is_grouping:
                result.extend(self.children_of.get(child, []))
            else:
                result.append(child)
        return result

    def _match_prefix(self, text: str, codes: list[str]) -> tuple[Region | None, str]:
        best: tuple[int, Region] | None = None
        for code in codes:
            region = self.regions[code]
            for form in (region.name, *short_names(region.name)):
                if text.startswith(form) and (best is None or len(form) > best[0]):
                    best = (len(form), region)
        if best is None:
            return None, text
        return best[1], text[best[0] :]


@dataclass(frozen=True)
class TierTable:
    """City code → tier (municipalities keyed by province code). Unlisted cities are 五线."""

    tiers: Mapping[str, CityTier]

    @classmethod
    def from_text(cls, text: str, regions: RegionTable) -> TierTable:
        """Lines ``code<TAB>[name<TAB>]tier`` (tier as ``tier_3`` or ``三线``); ``#`` comments."""
        tiers: dict[str, CityTier] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [part.strip() for part in line.split("\t")]
            if len(parts) not in (2, 3):
                raise TierTableInvalid(line=number, why="expected code<TAB>[name<TAB>]tier")
            code, tier_text = parts[0], parts[-1]
            try:
                tiers[check_tier_key(regions, code)] = parse_tier(tier_text)
            except ValidationFailed as error:
                raise TierTableInvalid(line=number, why=error.en) from error
        return cls(tiers)

    def with_overrides(self, overrides: Mapping[str, CityTier]) -> TierTable:
        return TierTable({**self.tiers, **overrides})


def check_tier_key(regions: RegionTable, code: str) -> str:
    """A tier is set on a city, a municipality (province code) or a county-level division."""
    region = regions.get(code)
    if region.is_grouping or (
        region.level == RegionLevel.PROVINCE and not is_municipality(regions, region.code)
    ):
        raise RegionUnknown(
            f"{code} is not a city: tiers are set on cities, municipalities or counties.",
            f"“{region.display_name}”不是城市，城市等级只能设置在地级市、直辖市或区县上。",
            value=code,
        )
    return region.code


def is_municipality(regions: RegionTable, province_code: str) -> bool:
    return province_code in regions.municipalities


def is_county_level(region: Region) -> bool:
    return region.level == RegionLevel.DISTRICT and region.name.endswith(COUNTY_LEVEL_SUFFIXES)


def tier_of(regions: RegionTable, tiers: TierTable, code: str) -> CityTier | None:
    """The tier of the place ``code`` names; None for a (non-municipal) province."""
    region = regions.get(code)
    explicit = tiers.tiers.get(region.code)
    if explicit is not None:
        return explicit
    if region.level == RegionLevel.PROVINCE:
        return CityTier.TIER_5 if is_municipality(regions, region.code) else None
    if region.level == RegionLevel.CITY:
        if region.name in DIRECT_COUNTY_GROUPINGS or region.name == "县":
            return CityTier.TIER_6
        if region.name == "市辖区":
            return tier_of(regions, tiers, region.code[:2] + "0000")
        return CityTier.TIER_5
    if is_county_level(region):
        return CityTier.TIER_6
    assert region.parent_code is not None
    return tier_of(regions, tiers, region.parent_code)


def codes_in_tiers(regions: RegionTable, tiers: TierTable, wanted: Iterable[CityTier]) -> list[str]:
    """Every city- and district-level code whose tier is one of ``wanted``, in code order."""
    selected = frozenset(wanted)
    return [
        code
        for code, region in regions.regions.items()
        if region.level != RegionLevel.PROVINCE or is_municipality(regions, code)
        if tier_of(regions, tiers, code) in selected
    ]


# --- the shipped data ---------------------------------------------------------------------------


def _data_text(name: str) -> str:
    return resources.files("siyu.regions").joinpath("data", name).read_text(encoding="utf-8")


@cache
def shipped_regions() -> RegionTable:
    return RegionTable.from_text(_data_text("divisions.tsv"))


@cache
def shipped_tiers() -> TierTable:
    return TierTable.from_text(_data_text("city_tiers.tsv"), shipped_regions())
