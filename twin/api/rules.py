"""``/api/rules``: the rules and their per-device states (operators and admins); admins
apply a rule file (YAML or JSON, the body of ``POST /api/rules``), as ``twin rules apply``.

States are counted and listed only for devices the caller may know of (the one access rule).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from geodata.access import Principal, check_role, device_visible, strictest
from geodata.errors import InputError
from geodata.layers import LAYERS
from twin.api.deps import CurrentUser, EngineDep
from twin.api.openapi import problems
from twin.rules import store
from twin.rules.parse import parse_rules

router = APIRouter(prefix="/api/rules", tags=["live"])
READERS = ("operator", "admin")
RuleName = Annotated[str, Path(max_length=100, description="A rule's name (GET /api/rules).")]


def _visible_states(user: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        layer = LAYERS.get(r["layer"]) if r["layer"] else None
        vis = strictest(r["visibility"], layer.visibility if layer else None)
        if device_visible(user, vis, r["status"]):
            out.append(r)
    return out


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"ok": 0, "pending": 0, "firing": 0, "resolved": 0}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


@router.get(
    "", summary="The rules and how many devices are in each state", responses=problems(401, 403)
)
def list_rules(user: CurrentUser, engine: EngineDep) -> list[dict[str, Any]]:
    check_role(user, *READERS)
    with engine.connect() as conn:
        loaded = store.load_rules(conn)
        states = _visible_states(user, store.state_rows(conn))
    by_rule: dict[int, list[dict[str, Any]]] = {}
    for r in states:
        by_rule.setdefault(r["rule_id"], []).append(r)
    return [{**lr.rule.public(), "states": _counts(by_rule.get(lr.id, []))} for lr in loaded]


@router.get(
    "/{name}", summary="One rule and its state per device", responses=problems(401, 403, 404)
)
def one_rule(name: RuleName, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    check_role(user, *READERS)
    with engine.connect() as conn:
        lr = store.get_rule(conn, name)
        states = _visible_states(user, store.state_rows(conn, lr.id))
    detail = [
        {
            "device_id": r["device_id"],
            "state": r["state"],
            "since": _iso(r["since"]),
            "last_at": _iso(r["last_at"]),
            "changed_at": _iso(r["changed_at"]),
            "alert_id": r["alert_id"],
        }
        for r in states
    ]
    return {**lr.rule.public(), "states": _counts(states), "state": detail}


@router.post(
    "",
    summary="Apply a rule file (YAML or JSON body; admins)",
    responses=problems(400, 401, 403, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def apply_rules(
    request: Request,
    user: CurrentUser,
    replace: Annotated[
        bool, Query(description="Also delete the stored rules the file does not name.")
    ] = False,
) -> dict[str, Any]:
    check_role(user, "admin")
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the rule file must be UTF-8 text (YAML or JSON)") from None
    rules = parse_rules(text, "the request body")
    engine = request.app.state.engine

    def apply() -> store.Applied:  # off the event loop: it is a database transaction
        with engine.begin() as conn:
            return store.apply_rules(conn, rules, user.name or "admin", replace=replace)

    done = await run_in_threadpool(apply)
    return dict(done.__dict__)
