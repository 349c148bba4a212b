"""Record arrays copied as bytes (tiles.records) equal numpy's own field-by-field copies."""

from __future__ import annotations

import numpy as np
import pytest

from tiles import records
from tiles.members import MEMBER


def _members(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arr = np.zeros(n, dtype=MEMBER)
    arr["src"] = rng.integers(0, 2, n)
    arr["id"] = rng.permutation(n) + 2**40
    arr["tile"] = rng.integers(0, 2**30, n)
    arr["size"] = rng.random(n)
    arr["nbytes"] = rng.integers(0, 10**6, n)
    return arr


def test_take_concat_delete_insert_equal_numpys() -> None:
    a, b = _members(1000, 1), _members(37, 2)
    mask = a["size"] > 0.4
    at = np.flatnonzero(a["size"] > 0.9)
    where = np.sort(np.random.default_rng(3).integers(0, len(a), len(b)))
    for ours, theirs in [
        (records.take(a, mask), a[mask]),
        (records.take(a, at), a[at]),
        (records.concat([a, b, a[:0]]), np.concatenate([a, b])),
        (records.delete(a, at), np.delete(a, at)),
        (records.insert(a, where, b), np.insert(a, where, b)),
    ]:
        assert ours.dtype == MEMBER
        assert ours.tobytes() == theirs.tobytes()
    into, expected = a.copy(), a.copy()
    records.put(into, at[: len(b)], b)
    expected[at[: len(b)]] = b
    assert into.tobytes() == expected.tobytes()


def test_records_of_another_layout_are_refused() -> None:
    """Bytes of one layout read as another would be wrong values, not an error: refused."""
    same_size = np.zeros(3, dtype=[("a", "V34")])
    with pytest.raises(ValueError, match="different layouts"):
        records.concat([_members(3, 1), same_size])
    with pytest.raises(ValueError, match="different layouts"):
        records.insert(_members(3, 1), np.array([0]), same_size[:1])
