from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from siyu.web.deps import ConsoleUser, DbSession, render

router = APIRouter(include_in_schema=False)


@router.get("/console")
def dashboard(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    return render(request, "console/dashboard.html", {}, user=user)
