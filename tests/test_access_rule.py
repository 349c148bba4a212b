"""The access rule on its own, without HTTP or a database: geodata.access and the catalogue's
use of its one ordering."""

from __future__ import annotations

import itertools

import pytest

from geodata.access import (
    ANONYMOUS,
    ROLE_SEES,
    Principal,
    UnknownRole,
    UnknownVisibility,
    check_role,
    check_visibility,
    hidden_from,
    roles_seeing,
    strictest,
    visible_to,
)
from geodata.errors import Forbidden, InputError, Unauthorized
from geodata.vocab import ROLES, VISIBILITIES
from tiles.catalog import tileset_visibility

#: written out by hand, independently of ROLE_SEES
SEES = {
    "citizen": {"public"},
    "agent": {"public", "agent"},
    "planner": {"public", "agent"},
    "operator": {"public", "agent"},
    "admin": {"public", "agent", "confidential"},
}
ORDER = ["public", "agent", "confidential"]


def test_every_role_has_exactly_the_visibilities_of_the_table() -> None:
    assert set(ROLE_SEES) == set(ROLES) == set(SEES)
    for role in ROLES:
        assert visible_to(role) == SEES[role]
        assert Principal("someone", role).sees == SEES[role]
    assert ANONYMOUS.anonymous and ANONYMOUS.sees == SEES["citizen"]


@pytest.mark.parametrize(("role", "visibility"), list(itertools.product(ROLES, VISIBILITIES)))
def test_check_visibility_for_accounts(role: str, visibility: str) -> None:
    user = Principal("someone", role)
    if visibility in SEES[role]:
        check_visibility(user, visibility, "layer x")
        assert user.may_see(visibility)
        return
    assert not user.may_see(visibility)
    with pytest.raises(Forbidden, match=f"layer x is visible to .*; your role is {role}"):
        check_visibility(user, visibility, "layer x")


@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_anonymous_is_told_how_to_sign_in(visibility: str) -> None:
    if visibility == "public":
        check_visibility(ANONYMOUS, visibility, "layer x")
        return
    with pytest.raises(Unauthorized) as err:
        check_visibility(ANONYMOUS, visibility, "layer x")
    assert "Authorization: Bearer" in str(err.value) and "twin users add" in str(err.value)
    assert ", ".join(r for r in ROLES if visibility in SEES[r]) in str(err.value)


def test_strictest_is_the_one_ordering() -> None:
    for a, b in itertools.product(ORDER, ORDER):
        assert strictest(a, b) == ORDER[max(ORDER.index(a), ORDER.index(b))]
    assert strictest() == "public"
    assert strictest(None, "agent", None) == "agent"
    assert strictest("confidential", "public", "agent") == "confidential"


@pytest.mark.parametrize("bad", ["secret", "", "Public", 3])
def test_unknown_visibility_is_a_clear_input_error(bad: object) -> None:
    for call in (
        lambda: strictest("public", bad),  # type: ignore[arg-type]
        lambda: check_visibility(ANONYMOUS, bad, "x"),  # type: ignore[arg-type]
        lambda: ANONYMOUS.may_see(bad),  # type: ignore[arg-type]
        lambda: roles_seeing(bad),  # type: ignore[arg-type]
    ):
        with pytest.raises(UnknownVisibility, match="choose one of public, agent, confidential"):
            call()
    assert issubclass(UnknownVisibility, InputError)  # a 400, never a bare ValueError


def test_unknown_role_is_refused_when_the_principal_is_made() -> None:
    with pytest.raises(UnknownRole, match="unknown role 'root': choose one of citizen"):
        Principal("x", "root")


def test_hidden_from_is_the_complement_in_order() -> None:
    assert hidden_from(ANONYMOUS) == ("agent", "confidential")
    assert hidden_from(Principal("a", "agent")) == ("confidential",)
    assert hidden_from(Principal("a", "admin")) == ()


def test_check_role_wants_an_account() -> None:
    check_role(Principal("o", "operator"), "operator", "admin")
    with pytest.raises(Forbidden, match="needs a operator or admin account; your role is agent"):
        check_role(Principal("a", "agent"), "operator", "admin")
    with pytest.raises(Unauthorized, match="sign in"):
        check_role(ANONYMOUS, "citizen")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({"layer": "buildings"}, "public"),
        ({"layer": "buildings", "min_visibility": None}, "public"),
        ({"layer": "buildings", "min_visibility": "agent"}, "agent"),
        ({"layer": "network-water", "min_visibility": "public"}, "agent"),
        ({"layer": "network-water", "min_visibility": "confidential"}, "confidential"),
        ({"layer": "from-a-newer-twin"}, "confidential"),
        ({"layer": "buildings", "min_visibility": "secret"}, "confidential"),
        ({"layer": "buildings", "min_visibility": 7}, "confidential"),
    ],
)
def test_tileset_visibility_takes_the_strictest(manifest: dict[str, object], expected: str) -> None:
    assert tileset_visibility(manifest) == expected
