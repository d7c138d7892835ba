"""Console and H5 pages of fission campaigns."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
