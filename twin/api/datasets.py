"""The datasets catalogue: what the twin holds, from whom, under which licence.

Open-data users need the licence and attribution of what they reuse; the catalogue lists only
the datasets the caller may see (an agent-only dataset does not exist for a citizen), through
the one access rule in :mod:`geodata.access`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from geodata import datasets
from twin.api.deps import CurrentUser, EngineDep
from twin.api.openapi import problems

router = APIRouter(prefix="/api/datasets", tags=["datasets"])


@router.get("", summary="Datasets the caller may see, with licence and attribution")
def list_datasets(user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        return {"datasets": [d.public_dict() for d in datasets.list_datasets(conn, user)]}


@router.get("/{dataset_id}", summary="One dataset", responses=problems(403, 404))
def get_dataset(dataset_id: int, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        return datasets.get_dataset(conn, user, dataset_id).public_dict()
