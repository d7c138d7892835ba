from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from siyu.models import Role
from siyu.overview.service import overview
from siyu.overview.story import story
from siyu.web.deps import ConsoleUser, DbSession, render

router = APIRouter(include_in_schema=False)


@router.get("/console")
def dashboard(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    if user.role == Role.PROMOTER:
        return RedirectResponse("/h5/me", status_code=303)
    return render(
        request, "console/dashboard.html", {"overview": overview(session, user)}, user=user
    )


@router.get("/console/story")
def story_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    """演示导览: the seed's story from the poster to the payout, on this installation's data."""
    if user.role == Role.PROMOTER:
        return RedirectResponse("/h5/me", status_code=303)
    return render(request, "console/story.html", {"steps": story(session, user)}, user=user)
