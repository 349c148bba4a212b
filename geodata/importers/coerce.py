"""Source values to the twin's column values, column by column (vectorised), and the ranges
they must fall in.

Converters turn a pandas Series of raw values into clean ones (NaN/None = unknown).
:func:`settle` then holds a converted column to its type and range: the one place for range
checks of integer columns (PostgreSQL's limits, plausible storeys and years) and for
non-finite numbers. A value that cannot be used is stored as unknown and *counted* with its
reason (:class:`ValueIssues`, shown in the import summary), never silently dropped and never
an exception; a fractional whole number is rounded and counted as repaired.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geodata.vocab import NETWORKS

_NUMBER = re.compile(r"([-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_PLAIN = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"

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


#: text columns are held by Arrow: its string kernels run in C++, not once per value in
#: Python (the regex converters keep pandas's own strings: Arrow's RE2 has no look-behind)
TEXT = pd.StringDtype("pyarrow")


# -- converters ----------------------------------------------------------------------------------
def to_float(s: pd.Series) -> pd.Series:
    """Numbers, or strings such as '12', '12.5 m', '12,5', '1e3' (OSM and French sources)."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    if pd.api.types.is_numeric_dtype(s):
        return pd.to_numeric(s, errors="coerce").astype("float64")
    txt = s.astype("string").str.extract(_NUMBER, expand=False).str.replace(",", ".")
    return pd.to_numeric(txt, errors="coerce").astype("float64")


def to_year(s: pd.Series) -> pd.Series:
    """Years from numbers, dates or text holding a four-digit year ('1930-05-01', 'c. 1930')."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return pd.Series(s.dt.year.astype("float64"))
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return to_float(s)
    text = s.astype("string").str.strip()
    year = pd.to_numeric(text.str.extract(_YEAR, expand=False), errors="coerce")
    year = year.astype("float64")
    # a plain number with no four-digit year in it (a mixed column read as text: "1e+30",
    # "850") is the year itself; only those rows pay for the second parse
    rest = (year.isna() & text.notna()).to_numpy(dtype=bool)
    if rest.any():
        other = text[rest]
        number = pd.to_numeric(other.where(other.str.fullmatch(_PLAIN)), errors="coerce")
        year[rest] = number.astype("float64").to_numpy()
    return pd.Series(year, index=s.index)


def to_bool(s: pd.Series) -> pd.Series:
    """Booleans, numbers (0/1) or words (true/false, yes/no)."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s):
        v = pd.to_numeric(s, errors="coerce")
        return v.where(v.isin([0, 1])).astype("boolean")
    words = s.astype("string").str.strip().str.lower()
    return words.map(
        {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    ).astype("boolean")


def to_text(s: pd.Series) -> pd.Series:
    out = s.astype(TEXT).str.strip()
    return out.where(out.str.len() > 0)


def usage(s: pd.Series) -> pd.Series:
    """Text, except OSM's bare "yes" (building=yes, historic=yes), which says nothing."""
    out = to_text(s)
    return out.where(~out.str.lower().isin(["yes", "true", "1"]))


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


def network(s: pd.Series) -> pd.Series:
    """A network name (synonyms translated); an unknown one is kept as ``?name`` so the
    vocabulary check can name it."""
    key = to_text(s).str.lower().str.replace(r"[\s-]+", "_", regex=True)
    return key.map(lambda v: NETWORK_SYNONYMS.get(v, f"?{v}") if isinstance(v, str) else None)


@dataclass(frozen=True)
class Field:
    """How source attributes feed one twin column: the converter, the attribute names tried
    (first match wins) and what a value must be ("a number"; None for text, never refused)."""

    convert: Callable[[pd.Series], pd.Series]
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

    def add(self, kind: str, reason: str, raw: pd.Series, mask: NDArray[np.bool_]) -> None:
        n = int(mask.sum())
        if not n:
            return
        (self.skipped if kind == "skipped" else self.repaired)[reason] += n
        self.examples.setdefault(reason, _example(raw[mask].iloc[0]))

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
    converted: pd.Series,
    raw: pd.Series,
    source: str,
    issues: ValueIssues,
) -> pd.Series:
    """``converted`` (from the source attribute ``source``, raw values ``raw``) held to the
    column's type and range; what cannot be used becomes unknown and is counted in
    ``issues``."""
    name = column if source == column else f"{source} ({column})"
    if spec.what is not None:
        lost = raw.notna().to_numpy(dtype=bool) & converted.isna().to_numpy(dtype=bool)
        if lost.any() and (raw.dtype == object or isinstance(raw.dtype, pd.StringDtype)):
            blank = (raw[lost].astype("string").str.strip().str.len() == 0).fillna(True)
            lost[np.flatnonzero(lost)[blank.to_numpy(dtype=bool)]] = False  # "" says nothing
        issues.add("skipped", f"{name}: not {spec.what}", raw, lost)
    if sql_type == "float8":
        v = converted.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isinf(v)
        issues.add("skipped", f"{name}: not a finite number", raw, bad)
        return pd.Series(np.where(bad, np.nan, v), index=converted.index)
    if sql_type not in INT_LIMITS:
        return converted
    lo, hi = RANGES.get(column, INT_LIMITS[sql_type])
    v = converted.to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(v)
    with np.errstate(invalid="ignore"):
        out = known & ~((v >= lo) & (v <= hi))
    issues.add("skipped", f"{name}: outside {lo}..{hi}", raw, out)
    v = np.where(out, np.nan, v)
    whole = np.round(v)
    fractional = ~np.isnan(v) & (whole != v)
    issues.add("repaired", f"{name}: rounded to a whole number", raw, fractional)
    return pd.Series(whole, index=converted.index).astype("Int64")
