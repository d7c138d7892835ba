"""Every router, in one place."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from siyu.auth import routes as auth_api
    from siyu.catalog import routes as catalog_api
    from siyu.promoters import routes as promoters_api
    from siyu.web import auth_pages, catalog_pages, dashboard, h5_pages, promoter_pages

    app.include_router(auth_api.router, prefix="/api/v1")
    app.include_router(catalog_api.router, prefix="/api/v1")
    app.include_router(promoters_api.router, prefix="/api/v1")
    app.include_router(auth_pages.router)
    app.include_router(dashboard.router)
    app.include_router(catalog_pages.router)
    app.include_router(promoter_pages.router)
    app.include_router(h5_pages.router)
