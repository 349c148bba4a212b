"""A user's mapping file (JSON or TOML), parsed and checked against the layer's columns.

Its own module so that pydantic builds the model only for an import that has a mapping file
(the format is described in :mod:`geodata.importers.mapping`).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from geodata.errors import ImportFailed

if TYPE_CHECKING:
    from geodata.importers.import_layer import ImportLayer


class MappingFile(BaseModel):
    """A user's mapping from their scheme to the twin's columns."""

    model_config = ConfigDict(extra="forbid")
    fields: dict[str, str] = {}
    constants: dict[str, Any] = {}
    values: dict[str, dict[str, Any]] = {}
    id: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path, layer: ImportLayer) -> MappingFile:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImportFailed(f"{path}: cannot read the mapping file ({exc.strerror})") from None
        try:
            data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFailed(
                f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}"
            ) from None
        try:
            mapping = cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise ImportFailed(
                f"{path}: bad mapping file ({problems}); expected sections "
                "[fields], [constants], [values.<column>], [id]"
            ) from None
        known = set(layer.fields)
        for section in ("fields", "constants", "values"):
            unknown = set(getattr(mapping, section)) - known
            if unknown:
                raise ImportFailed(
                    f"{path}: [{section}] names {', '.join(sorted(unknown))}, not columns of "
                    f"layer {layer.name}; its columns are {', '.join(sorted(known))}"
                )
        if set(mapping.id) - {"field"}:
            raise ImportFailed(f'{path}: [id] takes only field = "<attribute>"')
        return mapping
