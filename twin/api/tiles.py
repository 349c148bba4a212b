"""3D Tiles: the list of tilesets a caller may see, and their files with strong ETags.

Thin on purpose: listing, visibility, file lookup and ETags live in tiles.catalog; the
visibility rule is geodata.access.check_visibility, applied to every file (tileset.json and each
content file), so a network tileset answers 401/403 to anyone who is not an agent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from geodata.access import ANONYMOUS, check_visibility
from tiles import catalog
from twin.api.deps import CurrentUser, SettingsDep, audit_access
from twin.api.http import accepts_coding
from twin.api.openapi import problems

router = APIRouter(prefix="/tiles", tags=["3D Tiles"])


@router.get("", summary="Tilesets the caller may see")
def list_tilesets(settings: SettingsDep, user: CurrentUser) -> dict[str, Any]:
    return {
        "tilesets": [
            e.public_dict()
            for e in catalog.list_tilesets(settings.tiles_dir)
            if user.may_see(e.visibility)
        ]
    }


_FILE: dict[str, dict[str, Any]] = {"application/json": {}, "model/gltf-binary": {}}
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file (gzip-encoded when the client accepts it)", "content": _FILE},
    206: {"description": "The byte range asked for with `Range`", "content": _FILE},
    304: {"description": "Unchanged since the `If-None-Match` ETag"},
    416: {
        "description": "A `Range` outside the file",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    **problems(403, 404),
}


@router.get(
    "/{name}/{path:path}",
    summary="A tileset.json or content file",
    response_class=Response,
    responses=_FILE_RESPONSES,
)
def tileset_file(
    name: str, path: str, request: Request, settings: SettingsDep, user: CurrentUser
) -> Response:
    entry = catalog.get_tileset(settings.tiles_dir, name)
    check_visibility(user, entry.visibility, f"tileset {name!r}")
    file = catalog.resolve_file(entry, path)
    audit_access(request, user, "read", f"tileset {name}", entry.visibility)
    # a shared cache may keep only what anyone may see; anything else is per token
    shared = ANONYMOUS.may_see(entry.visibility)
    headers = {
        "Cache-Control": ("public, " if shared else "private, ") + catalog.cache_control(file),
        "Vary": "Accept-Encoding" + ("" if shared else ", Authorization"),
    }
    served = file
    if accepts_coding(request.headers.get("accept-encoding"), "gzip"):
        served = catalog.gzip_companion(file)
        headers["Content-Encoding"] = "gzip"
    tag = catalog.etag(served)
    headers["ETag"] = tag
    if catalog.if_none_match(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return FileResponse(served, media_type=catalog.MEDIA_TYPES[file.suffix], headers=headers)
