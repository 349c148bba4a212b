"""Source values to the twin's column values, column by column (vectorised), and the ranges
they must fall in.

Converters turn an Arrow array of raw values into clean ones (null = unknown), with Arrow's
compute kernels (C++, no Python per value; the regexes are RE2's). :func:`settle` then holds a
converted column to its type and range: the one place for range checks of integer columns
(PostgreSQL's limits, plausible storeys and years) and for non-finite numbers. A value that
cannot be used is stored as unknown and *counted* with its reason (:class:`ValueIssues`, shown
in the import summary), never silently dropped and never an exception; a fractional whole
number is rounded and counted as repaired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from geodata.vocab import NETWORKS

#: a number in text ('12', '12.5 m', '12,5', '1e3'); RE2 wants a named group to extract
_NUMBER = r"(?P<n>[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)"
#: a four-digit year not part of a longer number (RE2 has no look-behind: the neighbours are
#: matched instead, which finds the same first year)
_YEAR = r"(?:^|[^0-9])(?P<y>[0-9]{4})(?:[^0-9]|$)"
_PLAIN = r"^[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?$"

#: plausible values of integer columns (inclusive); the tallest building has 163 storeys, and
#: install years are the network table's own constraint
RANGES: dict[str, tuple[int, int]] = {
    "levels": (0, 300),
    "year_built": (1000, 2100),
    "install_year": (1700, 2100),
    "replaces_id": (1, 2**63 - 1024),
}
#: PostgreSQL's limits for the other integer columns (int8's upper limit as the largest
#: float64 below 2**63, since values pass through float64)
INT_LIMITS: dict[str, tuple[int, int]] = {
    "int": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1024),
}

_FLOAT = pa.float64()
_TRUE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


# -- Arrow helpers -------------------------------------------------------------------------------
def flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (a table's column can come in chunks)."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def from_numpy(values: NDArray[Any]) -> pa.Array:
    """Floats with NaN as unknown -> an Arrow float64 array with nulls."""
    v = np.asarray(values, dtype=float)
    return pa.array(v, _FLOAT, mask=np.isnan(v))


def floats(values: pa.Array) -> NDArray[np.float64]:
    """A numeric Arrow array as float64 with NaN for unknown."""
    out: NDArray[np.float64] = np.array(
        flat(values).cast(_FLOAT, safe=False).fill_null(np.nan).to_numpy(zero_copy_only=False),
        dtype=float,
    )
    return out


def mask(values: pa.Array) -> NDArray[np.bool_]:
    """A boolean Arrow array as numpy, unknown = False."""
    out: NDArray[np.bool_] = np.array(
        flat(values).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
    )
    return out


def as_text(values: pa.Array) -> pa.Array:
    """Any array as strings (numbers as Arrow writes them); what has no text form is null."""
    values = flat(values)
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_large_string(values.type) or pa.types.is_dictionary(values.type):
        return values.cast(pa.string())
    if pa.types.is_floating(values.type):
        # as Python (and so pandas, and earlier imports' source ids) writes them: 12.0, not 12
        text = values.cast(pa.string())
        whole = pc.match_substring_regex(text, r"^-?[0-9]+$")
        return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    try:
        return values.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def lookup(values: pa.Array, table: Mapping[str, Any], type_: pa.DataType) -> pa.Array:
    """Each string translated through ``table`` (absent: null), one lookup per distinct
    value rather than per row."""
    enc = pc.dictionary_encode(flat(values))
    mapped = pa.array([table.get(v) for v in enc.dictionary.to_pylist()], type_)
    return mapped.take(enc.indices)


# -- converters ----------------------------------------------------------------------------------
def to_float(s: pa.Array) -> pa.Array:
    """Numbers, or strings such as '12', '12.5 m', '12,5', '1e3' (OSM and French sources)."""
    s = flat(s)
    if pa.types.is_floating(s.type):  # NaN says nothing either
        return pc.if_else(pc.is_nan(s), pa.scalar(None, _FLOAT), s.cast(_FLOAT, safe=False))
    if pa.types.is_boolean(s.type) or _numeric(s.type) or pa.types.is_null(s.type):
        return s.cast(_FLOAT, safe=False)
    found = pc.struct_field(pc.extract_regex(as_text(s), _NUMBER), [0])
    return pc.replace_substring(found, ",", ".").cast(_FLOAT, safe=False)


def to_year(s: pa.Array) -> pa.Array:
    """Years from numbers, dates or text holding a four-digit year ('1930-05-01', 'c. 1930')."""
    s = flat(s)
    if pa.types.is_timestamp(s.type) or pa.types.is_date(s.type):
        return pc.year(s).cast(_FLOAT, safe=False)
    if _numeric(s.type) or pa.types.is_null(s.type):
        return to_float(s)
    text = pc.utf8_trim_whitespace(as_text(s))
    year = pc.struct_field(pc.extract_regex(text, _YEAR), [0]).cast(_FLOAT, safe=False)
    # a plain number with no four-digit year in it (a mixed column read as text: "1e+30",
    # "850") is the year itself
    plain = pc.and_(pc.is_null(year), pc.match_substring_regex(text, _PLAIN))
    if pc.any(plain).as_py():
        number = pc.if_else(plain, text, pa.scalar(None, pa.string())).cast(_FLOAT, safe=False)
        year = pc.coalesce(year, number)
    return year


def to_bool(s: pa.Array) -> pa.Array:
    """Booleans, numbers (0/1) or words (true/false, yes/no)."""
    s = flat(s)
    if pa.types.is_boolean(s.type) or pa.types.is_null(s.type):
        return s.cast(pa.bool_())
    if _numeric(s.type):
        v = s.cast(_FLOAT, safe=False)
        return pc.if_else(pc.is_in(v, pa.array([0.0, 1.0])), pc.not_equal(v, 0.0), None)
    words = pc.utf8_lower(pc.utf8_trim_whitespace(as_text(s)))
    return lookup(words, _TRUE_WORDS, pa.bool_())


def to_text(s: pa.Array) -> pa.Array:
    out = pc.utf8_trim_whitespace(as_text(s))
    return pc.if_else(pc.greater(pc.utf8_length(out), 0), out, pa.scalar(None, pa.string()))


def usage(s: pa.Array) -> pa.Array:
    """Text, except OSM's bare "yes" (building=yes, historic=yes), which says nothing."""
    out = to_text(s)
    bare = pc.is_in(pc.utf8_lower(out), pa.array(["yes", "true", "1"]))
    return pc.if_else(bare, pa.scalar(None, pa.string()), out)


NETWORK_SYNONYMS = {
    **{n: n for n in NETWORKS},
    "eau": "water",
    "aep": "water",
    "drinking_water": "water",
    "water_supply": "water",
    "gaz": "gas",
    "natural_gas": "gas",
    "heat": "district_heating",
    "hot_water": "district_heating",
    "chauffage": "district_heating",
    "heating": "district_heating",
    "steam": "district_heating",
    # district cooling pipes (OSM substance/type=cold) belong to the thermal network, as in
    # INSPIRE's ThermalNetwork: a digger must see them as much as the heating ones
    "cold": "district_heating",
    "cooling": "district_heating",
    "district_cooling": "district_heating",
    "sewage": "wastewater",
    "sewer": "wastewater",
    "eu": "wastewater",
    "eaux_usees": "wastewater",
    "assainissement": "wastewater",
    "rainwater": "stormwater",
    "storm": "stormwater",
    "ep": "stormwater",
    "eaux_pluviales": "stormwater",
    "power": "electricity",
    "electricite": "electricity",
    "electric": "electricity",
    "communication": "telecom",
    "telecommunication": "telecom",
    "fibre": "telecom",
    "eclairage": "lighting",
    "street_lighting": "lighting",
}


def network(s: pa.Array) -> pa.Array:
    """A network name (synonyms translated); an unknown one is kept as ``?name`` so the
    vocabulary check can name it."""
    key = pc.replace_substring_regex(pc.utf8_lower(to_text(s)), r"[\s-]+", "_")
    known = {v: NETWORK_SYNONYMS.get(v, f"?{v}") for v in pc.unique(key).drop_null().to_pylist()}
    return lookup(key, known, pa.string())


@dataclass(frozen=True)
class Field:
    """How source attributes feed one twin column: the converter, the attribute names tried
    (first match wins) and what a value must be ("a number"; None for text, never refused)."""

    convert: Callable[[pa.Array], pa.Array]
    candidates: tuple[str, ...]
    what: str | None = "a number"


# -- settling: type and range -----------------------------------------------------------------
@dataclass
class ValueIssues:
    """Attribute values stored as unknown (skipped) or changed (repaired), by reason, with the
    first raw value of each as an example: what the import summary lists."""

    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, reason: str, raw: pa.Array, where: NDArray[np.bool_]) -> None:
        n = int(where.sum())
        if not n:
            return
        (self.skipped if kind == "skipped" else self.repaired)[reason] += n
        self.examples.setdefault(reason, _example(raw[int(np.argmax(where))].as_py()))

    def lines(self) -> list[str]:
        out = [
            f"  skipped {n} value{'s' * (n > 1)} of {reason} (e.g. {self.examples[reason]}); "
            "stored as unknown"
            for reason, n in self.skipped.most_common()
        ]
        out += [
            f"  repaired {n} value{'s' * (n > 1)} of {reason} (e.g. {self.examples[reason]})"
            for reason, n in self.repaired.most_common()
        ]
        return out


def _example(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def settle(
    column: str,
    sql_type: str,
    spec: Field,
    converted: pa.Array,
    raw: pa.Array,
    source: str,
    issues: ValueIssues,
) -> pa.Array:
    """``converted`` (from the source attribute ``source``, raw values ``raw``) held to the
    column's type and range; what cannot be used becomes unknown (null) and is counted in
    ``issues``."""
    name = column if source == column else f"{source} ({column})"
    converted, raw = flat(converted), flat(raw)
    if spec.what is not None:
        lost = mask(pc.and_(pc.is_valid(raw), pc.is_null(converted, nan_is_null=True)))
        if lost.any() and pa.types.is_string(raw.type):
            # "" says nothing: not counted as a value lost
            blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(raw)), 0)
            lost &= ~mask(blank)
        issues.add("skipped", f"{name}: not {spec.what}", raw, lost)
    if sql_type == "float8":
        v = floats(converted)
        bad = np.isinf(v)
        issues.add("skipped", f"{name}: not a finite number", raw, bad)
        return from_numpy(np.where(bad, np.nan, v))
    if sql_type not in INT_LIMITS:
        return converted
    lo, hi = RANGES.get(column, INT_LIMITS[sql_type])
    v = floats(converted)
    known = ~np.isnan(v)
    with np.errstate(invalid="ignore"):
        out = known & ~((v >= lo) & (v <= hi))
    issues.add("skipped", f"{name}: outside {lo}..{hi}", raw, out)
    v = np.where(out, np.nan, v)
    whole = np.round(v)
    fractional = ~np.isnan(v) & (whole != v)
    issues.add("repaired", f"{name}: rounded to a whole number", raw, fractional)
    unknown = np.isnan(whole)
    return pa.array(np.where(unknown, 0, whole).astype(np.int64), pa.int64(), mask=unknown)
