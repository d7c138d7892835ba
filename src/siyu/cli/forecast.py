"""``siyu forecast``: forecast a campaign (bands and warnings, saved) or compare a saved
forecast with what the campaign did."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from siyu.auth.principal import Principal
from siyu.forecasts import rules
from siyu.models import Role

console = Console(highlight=False)

# The command line runs as the platform (no user row: created_by stays empty).
CLI_USER_ID = 0


def _cli_actor() -> Principal:
    return Principal(user_id=CLI_USER_ID, username="cli", display_name="命令行", role=Role.ADMIN)


def _band(metric: str, band: list[int]) -> str:
    low, mid, high = (rules.format_value(metric, value) for value in band)
    return f"{mid}（{low}–{high}）"


def forecast(
    campaign: Annotated[int | None, typer.Option("--campaign", help="活动编号 campaign id")] = None,
    reach: Annotated[int, typer.Option(help="每天看到海报的人数 poster reach per day")] = 1_000,
    days: Annotated[int | None, typer.Option(help="天数 days (default: the campaign's)")] = None,
    runs: Annotated[int, typer.Option(help="模拟次数 Monte Carlo runs")] = 200,
    seed: Annotated[int, typer.Option(help="随机种子 seed")] = 20191111,
    market_size: Annotated[int, typer.Option(help="市场人数 synthetic market size")] = 20_000,
    compare: Annotated[
        int | None, typer.Option("--compare", help="对比预测与实际 forecast id")
    ] = None,
) -> None:
    """预测活动效果并保存，或对比预测与实际 (forecast a campaign / compare with actual)."""
    from siyu.cli.main import _apply, require_migrated
    from siyu.config import current_settings
    from siyu.db import unit_of_work
    from siyu.forecasts import service as forecasts

    settings = current_settings()
    require_migrated(settings)
    _apply(settings)
    actor = _cli_actor()
    if compare is not None:
        with unit_of_work() as session:
            comparison = forecasts.forecast_vs_actual(session, actor, compare)
            _print_comparison(comparison)
        return
    if campaign is None:
        console.print("[red]请用 --campaign 指定活动，或用 --compare 指定预测[/]")
        raise typer.Exit(code=2)
    params = forecasts.ForecastParams(
        reach=reach, days=days, runs=runs, seed=seed, market_size=market_size
    )
    with unit_of_work() as session:
        saved = forecasts.create_forecast(session, actor, campaign, params)
        forecast_id = saved.id
        results = saved.results
        warnings = forecasts.warning_texts(saved)
        title = f"活动 {campaign} 预测 #{forecast_id}：{saved.runs} 次模拟，{saved.days} 天"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("指标")
    table.add_column("中位数（P10–P90）")
    for metric, band in results["totals"].items():
        table.add_row(rules.METRIC_LABELS.get(metric, metric), _band(metric, band))
    for tier in results["tiers"]:
        table.add_row(
            f"奖励“{escape(tier['name'])}”发放（库存 {tier['stock']}）",
            _band("rewards", tier["issued"]),
        )
    console.print(table)
    days_table = Table(title="每日累计（中位数，P10–P90）", title_justify="left")
    days_table.add_column("第几天")
    for metric in rules.ACTUAL_METRICS:
        days_table.add_column(rules.METRIC_LABELS[metric])
    for entry in results["days"]:
        days_table.add_row(
            str(entry["day"] + 1), *(_band(m, entry[m]) for m in rules.ACTUAL_METRICS)
        )
    console.print(days_table)
    if warnings:
        for text in warnings:
            console.print(f"[yellow]⚠ {escape(text)}[/]")
    else:
        console.print("[green]✓ 预测期内运营号上限和库存都够用[/]")
    console.print(f"已保存预测 #{forecast_id}；对比实际：siyu forecast --compare {forecast_id}")


def _print_comparison(comparison: object) -> None:
    from siyu.forecasts.service import ForecastComparison

    assert isinstance(comparison, ForecastComparison)
    forecast = comparison.forecast
    if not comparison.has_data:
        console.print(f"预测 #{forecast.id}：活动还没有数据，暂无对比。")
    table = Table(title=f"预测 #{forecast.id} 与实际", title_justify="left")
    table.add_column("指标")
    table.add_column("预测 中位数（P10–P90）")
    table.add_column("实际")
    table.add_column("在区间内")
    for row in comparison.totals:
        table.add_row(
            rules.METRIC_LABELS.get(row.metric, row.metric),
            _band(row.metric, row.forecast),
            rules.format_value(row.metric, row.actual),
            "是" if row.inside else "否",
        )
    console.print(table)
    days = Table(title="每日累计：实际 / 预测区间", title_justify="left")
    days.add_column("日期")
    for metric in rules.ACTUAL_METRICS:
        days.add_column(rules.METRIC_LABELS[metric])
    for day in comparison.days:
        days.add_row(
            day.date.isoformat(),
            *(
                f"{row.actual} / {row.forecast[0]}–{row.forecast[2]}{'' if row.inside else ' ✗'}"
                for row in day.rows
            ),
        )
    console.print(days)
