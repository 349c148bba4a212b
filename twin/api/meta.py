"""Small application endpoints: health and who-am-i."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from geodata.vocab import VISIBILITIES
from twin.api.deps import CurrentUser, EngineDep

router = APIRouter(prefix="/api", tags=["application"])


@router.get("/health")
def health(engine: EngineDep) -> dict[str, object]:
    with engine.connect() as conn:
        crs = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'crs'")).scalar()
    return {"status": "ok", "crs": f"EPSG:{crs}" if crs else None}


@router.get("/me")
def me(user: CurrentUser) -> dict[str, object]:
    """Who the token belongs to and the visibilities it may see, so clients never keep a copy
    of the role table (the viewer shows the underground only when ``sees`` has ``agent``)."""
    return {
        "name": user.name,
        "role": user.role,
        "anonymous": user.anonymous,
        "sees": [v for v in VISIBILITIES if v in user.sees],
    }
