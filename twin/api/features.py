"""OGC API - Features (placeholder until the Features router lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["OGC API - Features"])
