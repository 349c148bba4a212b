"""A plan of :mod:`geodata.export` as an HTTP response: streamed chunk by chunk, or, for a
GeoPackage (an SQLite file), written to a temporary file under the data folder first and
deleted once sent. Shared by the dataset downloads and the collections' ``?f=`` files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi.responses import FileResponse, Response, StreamingResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from geodata import export
from twin.settings import Settings

#: a file's content depends on who asks
PRIVATE = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}


def file_response(engine: Engine, settings: Settings, plan: export.ExportPlan) -> Response:
    headers = {**PRIVATE, "Content-Disposition": f'attachment; filename="{plan.filename}"'}
    media = export.FORMATS[plan.fmt].media_type
    if plan.fmt in export.CHUNKS:
        chunks = export.CHUNKS[plan.fmt](engine, plan)
        return StreamingResponse(chunks, media_type=media, headers=headers)
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="download-", suffix=".gpkg", dir=folder)
    os.close(fd)
    path = Path(name)
    path.unlink()  # GDAL creates the file itself
    try:
        export.write_gpkg(engine, plan, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path, media_type=media, headers=headers, background=BackgroundTask(path.unlink)
    )
