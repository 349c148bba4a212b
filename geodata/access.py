"""Who may see what: the one access rule of the twin, free of HTTP and of the database.

Every consumer asks here: the Features API (collections and the datasets their rows come
from), the tiles catalogue and its cache headers, the dataset catalogue, and later the live
hub and the analyses. Accounts and tokens are the business of :mod:`twin.accounts` and
:mod:`twin.auth`; this module only knows a :class:`Principal` (a name, or none, and a role).

Visibilities are ordered from open to closed (``geodata.vocab.VISIBILITIES``); anything
derived from several sources (a tileset of a restricted dataset, a project's tileset, an
analysis over two layers) takes the :func:`strictest` of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from geodata.errors import Forbidden, InputError, Unauthorized
from geodata.vocab import ROLES, VISIBILITIES

#: the role of a caller without a token: anonymous users see what citizens see
ANONYMOUS_ROLE = "citizen"

#: what each role may see
ROLE_SEES: dict[str, frozenset[str]] = {
    "citizen": frozenset({"public"}),
    "agent": frozenset({"public", "agent"}),
    "planner": frozenset({"public", "agent"}),
    "operator": frozenset({"public", "agent"}),
    "admin": frozenset({"public", "agent", "confidential"}),
}

_RANK = {v: i for i, v in enumerate(VISIBILITIES)}
_SIGN_IN = (
    "sign in with a token (`Authorization: Bearer <token>`, created by "
    "`twin users add NAME --role agent`)"
)


class UnknownVisibility(InputError):
    """A visibility outside the vocabulary: a typo in a command, or a row from a newer twin."""

    def __init__(self, value: object) -> None:
        super().__init__(f"unknown visibility {value!r}: choose one of {', '.join(VISIBILITIES)}")


class UnknownRole(InputError):
    def __init__(self, value: object) -> None:
        super().__init__(f"unknown role {value!r}: choose one of {', '.join(ROLES)}")


def check_known(visibility: object) -> str:
    """``visibility`` itself if it is one of the vocabulary, else :class:`UnknownVisibility`."""
    if not isinstance(visibility, str) or visibility not in _RANK:
        raise UnknownVisibility(visibility)
    return visibility


def visible_to(role: str) -> frozenset[str]:
    """The visibilities a role may see.

    :raises UnknownRole: a role outside ``geodata.vocab.ROLES``.
    """
    try:
        return ROLE_SEES[role]
    except KeyError:
        raise UnknownRole(role) from None


def strictest(*visibilities: str | None) -> str:
    """The most closed of ``visibilities`` (None entries are ignored; none at all is public).

    The one ordering of visibilities: whatever is derived from several sources is visible
    only to those who may see every one of them.

    :raises UnknownVisibility: a value outside the vocabulary.
    """
    known = [check_known(v) for v in visibilities if v is not None]
    return max(known, key=_RANK.__getitem__, default=VISIBILITIES[0])


def roles_seeing(visibility: str) -> list[str]:
    """The roles that may see ``visibility``, in vocabulary order (for messages)."""
    check_known(visibility)
    return [r for r in ROLES if visibility in ROLE_SEES[r]]


@dataclass(frozen=True)
class Principal:
    """Who is asking: an account, or anonymous (``name`` None, role citizen)."""

    name: str | None
    role: str = ANONYMOUS_ROLE
    #: an integration token (``twin tokens add --integration``): it may send observations
    integration: bool = False
    #: a device token (``twin tokens add --device ID``): it may send this device's only
    device: str | None = None

    def __post_init__(self) -> None:
        visible_to(self.role)  # an unknown role is refused when the principal is made

    @property
    def anonymous(self) -> bool:
        return self.name is None

    @property
    def sees(self) -> frozenset[str]:
        return visible_to(self.role)

    def may_see(self, visibility: str) -> bool:
        return check_known(visibility) in self.sees


ANONYMOUS = Principal(None)


def check_visibility(principal: Principal, visibility: str, what: str) -> None:
    """Let the caller through or raise: 401 for anonymous (with how to sign in), 403 for a
    role that may not see ``what``.

    :raises UnknownVisibility: ``visibility`` is not in the vocabulary (never silently open).
    """
    if principal.may_see(visibility):
        return
    needed = ", ".join(roles_seeing(visibility))
    if principal.anonymous:
        raise Unauthorized(f"{what} is visible to {needed} accounts only: {_SIGN_IN}")
    raise Forbidden(f"{what} is visible to {needed} accounts; your role is {principal.role}")


def check_role(principal: Principal, *roles: str) -> None:
    """Let through an account whose role is one of ``roles``: 401 for anonymous (even where
    citizens are allowed: a role check asks for an account), 403 otherwise."""
    if principal.role in roles and not principal.anonymous:
        return
    if principal.anonymous:
        raise Unauthorized(f"this needs a {' or '.join(roles)} account: {_SIGN_IN}")
    raise Forbidden(f"this needs a {' or '.join(roles)} account; your role is {principal.role}")


def check_ingest(principal: Principal) -> None:
    """Let through who may send observations: an integration token, a device token (for its
    own device: :func:`check_device_observations`), or an admin (who may also test an
    integration by hand); 401 for anonymous, 403 for any other account."""
    if principal.integration or principal.device is not None:
        return
    if principal.role == "admin" and not principal.anonymous:
        return
    if principal.anonymous:
        raise Unauthorized(
            "ingest needs an integration token: `twin tokens add --integration NAME` prints "
            "one; send it as `Authorization: Bearer <token>`"
        )
    raise Forbidden(
        "ingest needs an integration token (`twin tokens add --integration NAME`); "
        f"your account's role is {principal.role}"
    )


def check_device_observations(principal: Principal, devices: Iterable[str]) -> None:
    """A device token speaks for its own device only: a body naming any other is refused
    whole (403), so a stolen device token cannot write another device's state. Integration
    tokens and admins may write any device.
    """
    if principal.device is None:
        return
    others = sorted({d for d in devices if d != principal.device})
    if others:
        shown = ", ".join(repr(d) for d in others[:5]) + (" ..." if len(others) > 5 else "")
        raise Forbidden(
            f"this token may send observations of device {principal.device!r} only; the body "
            f"names {shown}: nothing was stored (integration tokens may write any device)"
        )


def check_network_ingest(principal: Principal) -> None:
    """The LoRaWAN network servers' routes take integration tokens (and admins), never a
    device token: a network server speaks for many devices."""
    check_ingest(principal)
    if principal.device is not None:
        raise Forbidden(
            "a device token may only POST /api/ingest for its own device; a network server "
            "needs an integration token (`twin tokens add --integration NAME`)"
        )


def device_visible(principal: Principal, visibility: str, status: str) -> bool:
    """May the caller know of this device? Its visibility (already the strictest of its own
    and its bound layer's) must be one they see, and a quarantined device (heard from, not
    yet adopted) is known to admins only."""
    if status == "quarantined" and (principal.role != "admin" or principal.anonymous):
        return False
    return principal.may_see(visibility)


def hidden_from(principal: Principal, *, exporting: bool = False) -> tuple[str, ...]:
    """The visibilities the caller may not see, in vocabulary order (for SQL filters); when
    ``exporting``, also those that never leave the twin as a file (:data:`EXPORTABLE`)."""
    return tuple(
        v for v in VISIBILITIES if v not in principal.sees or (exporting and v not in EXPORTABLE)
    )


def exportable_seen(principal: Principal) -> frozenset[str]:
    """The visibilities whose rows the caller may take away as a file."""
    return principal.sees & EXPORTABLE


#: what may leave the twin as a file (downloads, exports): confidential data never does
EXPORTABLE: frozenset[str] = frozenset({"public", "agent"})


def check_export(principal: Principal, visibility: str, what: str) -> None:
    """Let the caller take ``what`` away as a file: they must see it (401/403 as
    :func:`check_visibility`), and it must not be confidential (personal data is never
    exported, whoever asks: 403).
    """
    check_visibility(principal, visibility, what)
    if visibility not in EXPORTABLE:
        raise Forbidden(f"{what} is {visibility}: confidential data is never exported")


#: the devices whose observations may feed an open aggregate (``twin opendata``): public and
#: agent-only ones (aggregation over at least k devices, without identifiers, is what makes
#: agent-only sensors publishable), never confidential ones, and never a quarantined device
#: (nobody vouched for it; it is confidential until adopted anyway)
AGGREGATE_SOURCES: frozenset[str] = EXPORTABLE


def may_feed_aggregate(visibility: str, status: str) -> bool:
    """Whether a device (its visibility the strictest of its own and its bound layer's) may
    contribute to an open aggregate, whatever the aggregate's own visibility."""
    return check_known(visibility) in AGGREGATE_SOURCES and status == "active"
