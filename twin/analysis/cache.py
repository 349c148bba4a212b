"""Results kept by their inputs: the analysis, its parameters, what the caller may see, and
the version of the data read. A repeated question is answered from disk; any write to a
table the analysis reads makes a new key, so a stale result is never served.

The data version comes from the change log (migrations 0002 and 0012): the newest
transaction that wrote one of the tables, the number of entries for them (a transaction that
commits after a newer one still adds entries), and the log's pruning mark (pruning may
remove the newest entry; the mark then moves, so no earlier version comes back).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from geodata.errors import InputError, NotFound

#: one folder per key; files named by the analysis, never by the caller
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def data_version(engine: Engine, tables: tuple[str, ...]) -> str:
    """The version of ``tables``' contents, as text ('' without tables)."""
    if not tables:
        return ""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT coalesce(max(txid)::text, '0'), count(*), "
                "(SELECT pruned_below::text FROM tile_log) "
                "FROM tile_changes WHERE tbl = ANY(:t)"
            ),
            {"t": list(tables)},
        ).one()
    return f"{row[0]}.{row[1]}.{row[2]}"


def cache_key(name: str, params_json: str, sees: frozenset[str], version: str) -> str:
    """The key of a result: what the analysis was asked, by whom (role-dependent results such
    as the flood's assets differ), over which data."""
    doc = json.dumps([name, params_json, sorted(sees), version], separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Stored:
    """A result on disk: its document, who may see it, and its files' names."""

    key: str
    data: dict[str, Any]
    visibility: str
    files: tuple[str, ...]


def check_file_name(name: str) -> str:
    """A result file's name, refused if it could leave the result's folder."""
    if not name or name.startswith(".") or not set(name) <= _SAFE:
        raise InputError(f"bad result file name {name!r}")
    return name


class ResultStore:
    """``{root}/{key}/result.json`` plus the files, written to a temporary folder and renamed
    into place: a reader sees a whole result or none."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, key: str) -> Path:
        if not key.isalnum():
            raise NotFound(f"no analysis result {key!r}")
        return self.root / key

    def get(self, key: str) -> Stored | None:
        try:
            doc = json.loads((self._dir(key) / "result.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Stored(key, doc["data"], doc["visibility"], tuple(doc["files"]))

    def put(
        self, key: str, data: dict[str, Any], files: dict[str, bytes], visibility: str
    ) -> Stored:
        final = self._dir(key)
        tmp = self.root / f".{key}.{os.getpid()}.{id(data)}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, content in files.items():
            (tmp / check_file_name(name)).write_bytes(content)
        doc = {"data": data, "visibility": visibility, "files": sorted(files)}
        (tmp / "result.json").write_text(json.dumps(doc, default=str), encoding="utf-8")
        try:
            tmp.rename(final)
        except OSError:  # another worker stored the same key first: theirs is as good
            shutil.rmtree(tmp, ignore_errors=True)
        return Stored(key, data, visibility, tuple(sorted(files)))

    def file(self, key: str, name: str) -> Path:
        path = self._dir(key) / check_file_name(name)
        if not path.is_file():
            raise NotFound(f"analysis result {key} has no file {name!r}")
        return path
