"""The open aggregates' rules without a database: suppression, noise, the Smart Data Models,
and the attack they are built against (differencing two releases that differ by one device).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from geodata.errors import InputError
from sensors_bridge.opendata.aggregate import (
    Anonymisation,
    Group,
    Release,
    anonymise,
    publish,
    suppress,
)
from sensors_bridge.opendata.models import MODELS, Cell, check_model, entity

T0 = datetime(2026, 11, 30, 10, tzinfo=UTC)


def group(devices: int, total: float, window: int = 0, x: int = 0) -> Group:
    return Group(T0 + timedelta(hours=window), x, 0, devices, total)


def test_a_group_under_k_is_not_published_at_all() -> None:
    groups = [group(4, 2.0, x=1), group(5, 2.5, x=2), group(12, 6.0, x=3)]
    assert [g.cell_x for g in suppress(groups, 5)] == [2, 3]
    out = list(publish(groups, Anonymisation(5)))
    assert [(r.cell_x, r.devices, r.mean) for r in out] == [(2, 5, 0.5), (3, 12, 0.5)]


@pytest.mark.parametrize(
    ("how", "says"),
    [
        (dict(k=1), "k >= 2"),
        (dict(k=5, epsilon=1.0), "needs bounds"),
        (dict(k=5, epsilon=-1.0, lower=0, upper=1), "positive"),
        (dict(k=5, epsilon=float("nan"), lower=0, upper=1), "positive"),
        (dict(k=5, lower=3, upper=1), "must be lower"),
    ],
)
def test_anonymisation_refuses_what_would_not_protect(how: dict, says: str) -> None:
    with pytest.raises(InputError, match=says):
        Anonymisation(**how)


def _difference(before: Release, after: Release) -> float:
    """The differencing attack: the sum after minus the sum before is the new device's value,
    if the others did not change."""
    return after.mean * after.devices - before.mean * before.devices


def test_differencing_recovers_a_device_from_exact_aggregates() -> None:
    """Why noise is offered: k-anonymity alone does not stop this attack (documented)."""
    others, newcomer = [20.0] * 5, 87.0
    how = Anonymisation(5)
    before = anonymise(group(5, sum(others)), how)
    after = anonymise(group(6, sum(others) + newcomer, window=1), how)
    assert _difference(before, after) == pytest.approx(newcomer)


def test_differencing_cannot_isolate_a_device_under_differential_privacy() -> None:
    """The same attack on 400 pairs of noisy releases: the estimate of the newcomer's value
    is off by about the noise scale (sum sensitivity 100 / (epsilon/2) = 200), far more than
    the value range, and no better than guessing the middle of the range."""
    others, newcomer = [20.0] * 5, 87.0
    how = Anonymisation(5, epsilon=1.0, lower=0.0, upper=100.0)
    errors = []
    for _ in range(400):
        before = anonymise(group(5, sum(others)), how)
        after = anonymise(group(6, sum(others) + newcomer, window=1), how)
        errors.append(abs(_difference(before, after) - newcomer))
    guess_error = abs(50.0 - newcomer)  # an attacker who knows nothing guesses the middle
    assert statistics.median(errors) > guess_error
    # the noisy counts alone do not say whether the newcomer is there
    counts = [anonymise(group(6, 120.0), how).devices for _ in range(400)]
    assert len(set(counts)) > 5 and statistics.mean(counts) == pytest.approx(6, abs=1)


def test_noisy_means_stay_within_the_bounds() -> None:
    how = Anonymisation(5, epsilon=0.1, lower=0.0, upper=1.0)
    means = [anonymise(group(6, 3.0), how).mean for _ in range(200)]
    assert all(0.0 <= m <= 1.0 for m in means) and len(set(means)) > 2


def _cell(mean: float = 0.5, devices: int = 8) -> Cell:
    polygon = {"type": "Polygon", "coordinates": [[[24.9, 60.1], [24.91, 60.1], [24.9, 60.1]]]}
    return Cell("parking", 3, -2, T0, T0 + timedelta(hours=1), devices, mean, polygon, "8 devices")


def test_parking_occupancy_is_an_on_street_parking_zone() -> None:
    model, attribute = check_model("OnStreetParking", None)
    doc = entity(model, attribute, _cell(0.625, 8))
    assert doc["type"] == "OnStreetParking"
    assert doc["id"] == "urn:ngsi-ld:OnStreetParking:parking:3_-2:20261130T100000Z"
    assert (doc["totalSpotNumber"], doc["occupiedSpotNumber"], doc["availableSpotNumber"]) == (
        8,
        5,
        3,
    )
    assert doc["@context"][0].endswith("dataModel.Parking/master/context.jsonld")
    assert doc["location"]["type"] == "Polygon"


def test_environment_models_take_the_attribute_named() -> None:
    model, attribute = check_model("AirQualityObserved", "no2")
    doc = entity(model, attribute, _cell(41.5))
    assert doc["no2"] == 41.5 and doc["dateObservedFrom"] == "2026-11-30T10:00:00Z"
    assert doc["dateObserved"] == doc["dateObservedTo"] == "2026-11-30T11:00:00Z"
    assert set(MODELS) == {"OnStreetParking", "Streetlight", "AirQualityObserved", "WaterObserved"}
    with pytest.raises(InputError, match=r"no attribute 'nitrogen'.*no2"):
        check_model("AirQualityObserved", "nitrogen")
    with pytest.raises(InputError, match="unknown model 'Parking'"):
        check_model("Parking", None)
