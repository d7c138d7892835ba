"""Every router, in one place."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from siyu.auth import routes as auth_api
    from siyu.catalog import routes as catalog_api
    from siyu.links import routes as links_api
    from siyu.orders import routes as orders_api
    from siyu.orders import webhook as orders_webhook
    from siyu.pool import routes as pool_api
    from siyu.promoters import routes as promoters_api
    from siyu.web import (
        auth_pages,
        catalog_pages,
        dashboard,
        h5_pages,
        link_pages,
        order_pages,
        promoter_pages,
    )

    # Before catalog: its promotion pool owns GET /api/v1/pool/{product_id} (an int), and the
    # traffic pool's literal paths (/api/v1/pool/accounts, …) must match first.
    app.include_router(pool_api.router, prefix="/api/v1")
    app.include_router(auth_api.router, prefix="/api/v1")
    app.include_router(catalog_api.router, prefix="/api/v1")
    app.include_router(promoters_api.router, prefix="/api/v1")
    app.include_router(links_api.router, prefix="/api/v1")
    app.include_router(orders_api.router, prefix="/api/v1")
    app.include_router(orders_webhook.router, prefix="/api/v1")
    from siyu.commissions import routes as commissions_api
    from siyu.web import money_pages
    from siyu.withdrawals import routes as withdrawals_api

    app.include_router(commissions_api.router, prefix="/api/v1")
    app.include_router(withdrawals_api.router, prefix="/api/v1")
    from siyu.web import pool_pages

    app.include_router(pool_pages.router)
    app.include_router(money_pages.router)
    app.include_router(auth_pages.router)
    app.include_router(dashboard.router)
    app.include_router(catalog_pages.router)
    app.include_router(promoter_pages.router)
    app.include_router(h5_pages.router)
    app.include_router(link_pages.router)
    app.include_router(order_pages.router)
    from siyu.compliance import routes as compliance_api
    from siyu.web import compliance_pages, privacy_pages

    app.include_router(privacy_pages.router)
    app.include_router(compliance_pages.router)
    app.include_router(compliance_api.router, prefix="/api/v1")
    # Regions, tags, segments, contacts and couriers (docs/segments.md).
    import siyu.segments.hooks
    from siyu.regions import routes as regions_api
    from siyu.segments import routes as segments_api
    from siyu.web import segment_pages

    app.include_router(regions_api.router, prefix="/api/v1")
    app.include_router(segments_api.router, prefix="/api/v1")
    app.include_router(segment_pages.router)
    from siyu.moments import routes as moments_api
    from siyu.web import moment_pages

    app.include_router(moments_api.router, prefix="/api/v1")
    app.include_router(moment_pages.router)
    from siyu.followups import routes as followups_api
    from siyu.web import followup_pages

    app.include_router(followups_api.router, prefix="/api/v1")
    app.include_router(followup_pages.router)
    # Broadcasts (docs/outreach.md).
    from siyu.outreach import routes as outreach_api
    from siyu.web import outreach_pages

    app.include_router(outreach_api.router, prefix="/api/v1")
    app.include_router(outreach_pages.router)
    # Posters and campaign analytics (docs/posters.md, docs/analytics.md).
    from siyu.analytics import routes as analytics_api
    from siyu.posters import routes as posters_api
    from siyu.web import analytics_pages, poster_pages

    app.include_router(posters_api.router, prefix="/api/v1")
    app.include_router(analytics_api.router, prefix="/api/v1")
    app.include_router(poster_pages.router)
    app.include_router(analytics_pages.router)
    # Scripts, conversation flows and conversations (docs/flows.md).
    from siyu.flows import routes as flows_api
    from siyu.web import flow_pages

    app.include_router(flows_api.router, prefix="/api/v1")
    app.include_router(flow_pages.router)
    # Dashboards (docs/dashboards.md).
    from siyu.web import dashboard_pages

    app.include_router(dashboard_pages.router)
    # /s/… and /l/… redirects are answered before FastAPI's entry: see siyu.app.SiyuApp.
    # Fission campaigns (docs/campaigns.md): hooks into the pool, orders and flow actions.
    import siyu.campaigns.hooks  # noqa: F401
    from siyu.campaigns import routes as campaigns_api
    from siyu.web import campaign_pages

    app.include_router(campaigns_api.router, prefix="/api/v1")
    app.include_router(campaign_pages.router)
    # Campaign forecasts (docs/forecasting.md).
    from siyu.forecasts import routes as forecasts_api
    from siyu.web import forecast_pages

    app.include_router(forecasts_api.router, prefix="/api/v1")
    app.include_router(forecast_pages.router)
