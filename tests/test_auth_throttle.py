"""The sign-in defences as plain objects: failure limits, the hash gate, the token verifier's
equal cost, shared checks and cache (no HTTP; the server-level load test is test_auth_load)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from limits import parse
from sqlalchemy import Engine, text

from geodata.access import Principal
from geodata.errors import Busy, ConfigError, TooManyRequests, TwinError, Unauthorized
from twin.accounts import create_user, revoke_user, rotate_user
from twin.audit import AuditWriter
from twin.auth import TokenVerifier
from twin.settings import Settings, get_settings
from twin.throttle import HASH_NICENESS, HashGate, SignInLimits

RATES = (
    "auth_failures_per_token",
    "auth_failures_per_client",
    "ingest_requests_per_token",
    "ingest_observations_per_token",
)


def test_rate_settings_are_checked_and_their_defaults_parse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A rate from the environment is checked when the settings are read; the defaults are not
    (the check imports limits in every command), so they are checked here."""
    monkeypatch.chdir(tmp_path)  # no .env of the working copy
    for name in RATES:
        parse(str(Settings.model_fields[name].default))
        monkeypatch.setenv(f"TWIN_{name.upper()}", "five a minute")
        with pytest.raises(ConfigError, match="is not a rate"):
            get_settings()
        monkeypatch.setenv(f"TWIN_{name.upper()}", "7/hour")
        assert getattr(get_settings(), name) == "7/hour"


# -- SignInLimits -------------------------------------------------------------------------------
def test_limits_refuse_after_the_allowed_failures_with_retry_after() -> None:
    limits = SignInLimits("3/minute", "100/minute")
    for _ in range(3):
        limits.check("abc", "10.0.0.1")
        limits.failed("abc", "10.0.0.1")
    with pytest.raises(TooManyRequests, match="token id abc") as caught:
        limits.check("abc", "10.0.0.1")
    assert 1 <= caught.value.retry_after <= 60
    assert caught.value.headers == {"Retry-After": str(caught.value.retry_after)}
    assert caught.value.http_status == 429
    limits.check("other", "10.0.0.1")  # another token id is not held back


def test_limits_per_client_address_across_token_ids() -> None:
    limits = SignInLimits("100/minute", "4/minute")
    for i in range(4):
        limits.failed(f"id{i}", "10.0.0.9")
    with pytest.raises(TooManyRequests, match=r"from 10\.0\.0\.9"):
        limits.check("fresh-id", "10.0.0.9")
    limits.check("fresh-id", "10.0.0.10")
    limits.check("fresh-id", None)  # no address known (a test client): only the id counts


# -- HashGate -----------------------------------------------------------------------------------
def test_gate_lets_slots_run_queues_some_and_refuses_the_rest() -> None:
    gate = HashGate(slots=1, queue=1, wait=5.0)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.slot():
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    queued_result: list[str] = []

    def queued() -> None:
        with gate.slot():
            queued_result.append("ran")

    waiter = threading.Thread(target=queued)
    waiter.start()
    deadline = time.monotonic() + 5
    while gate._waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(Busy) as caught, gate.slot():  # slot taken, queue full
        pass
    assert caught.value.http_status == 503 and caught.value.headers["Retry-After"] == "1"
    release.set()
    holder.join(5)
    waiter.join(5)
    assert queued_result == ["ran"]


def test_gate_waiter_gives_up_after_its_wait() -> None:
    gate = HashGate(slots=1, queue=4, wait=0.05)
    with gate.slot(), pytest.raises(Busy), gate.slot():
        pass
    with gate.slot():  # the slot was given back, and the waiter's place too
        assert gate._waiting == 0


# -- TokenVerifier ------------------------------------------------------------------------------
@pytest.fixture
def verifier(engine: Engine, settings: Settings) -> TokenVerifier:
    return TokenVerifier(engine, settings)


def _forged(token: str) -> str:
    return token.rsplit("_", 1)[0] + "_not-the-secret"


def test_unknown_id_costs_one_hash_like_a_wrong_secret(
    engine: Engine, verifier: TokenVerifier
) -> None:
    token = create_user(engine, "anna", "agent")
    for bad in (_forged(token), "twin_000000000000_whatever"):
        before = verifier.hashes
        with pytest.raises(Unauthorized, match="unknown or revoked token") as caught:
            verifier.principal(bad)
        assert verifier.hashes == before + 1, bad
        assert "anna" not in str(caught.value)


def test_failures_per_token_id_stop_hashing(engine: Engine, settings: Settings) -> None:
    audit = AuditWriter(engine)
    strict = settings.model_copy(update={"auth_failures_per_token": "3/minute"})
    verifier = TokenVerifier(engine, strict, audit)
    token = create_user(engine, "anna", "agent")
    for i in range(3):
        with pytest.raises(Unauthorized):
            verifier.principal(f"{token.rsplit('_', 1)[0]}_wrong-{i}", "10.0.0.7")
    for i in range(2):
        with pytest.raises(TooManyRequests):
            verifier.principal(f"{token.rsplit('_', 1)[0]}_wrong-again-{i}", "10.0.0.7")
    assert verifier.hashes == 3
    audit.flush()
    with engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT detail->>'reason', count, client FROM audit_log "
                "WHERE kind = 'sign-in-failed' ORDER BY 1"
            )
        ).all()
    assert [tuple(r) for r in logged] == [
        ("too many failures", 2, "10.0.0.7"),
        ("wrong secret", 3, "10.0.0.7"),
    ]


def test_waiters_get_a_clear_answer_when_the_shared_check_breaks(
    engine: Engine, verifier: TokenVerifier
) -> None:
    token = create_user(engine, "anna", "agent")
    started, release = threading.Event(), threading.Event()

    def broken() -> Principal:
        started.set()
        release.wait(5)
        raise RuntimeError("the database went away")

    def leader() -> None:
        with contextlib.suppress(RuntimeError):
            verifier._shared(b"k", broken)

    t = threading.Thread(target=leader)
    t.start()
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    with pytest.raises(Busy, match="retry"):
        verifier._shared(b"k", broken)
    t.join(5)
    assert verifier.principal(token).name == "anna"


def test_concurrent_identical_checks_share_one_hash(
    engine: Engine, verifier: TokenVerifier
) -> None:
    token = create_user(engine, "anna", "agent")
    bad = _forged(token)

    def attempt(t: str) -> Callable[[], object]:
        def run() -> object:
            try:
                return verifier.principal(t)
            except TwinError as exc:
                return exc

        return run

    with ThreadPoolExecutor(16) as pool:
        good = [f.result() for f in [pool.submit(attempt(token)) for _ in range(16)]]
        refused = [f.result() for f in [pool.submit(attempt(bad)) for _ in range(16)]]
    assert {(p.name, p.role) for p in good} == {("anna", "agent")}  # type: ignore[attr-defined]
    assert all(isinstance(e, Unauthorized) for e in refused)
    assert verifier.hashes == 2  # one for the good token, one for the bad one


def test_cached_token_is_refused_right_after_revocation_or_rotation(
    engine: Engine, verifier: TokenVerifier
) -> None:
    first = create_user(engine, "anna", "agent")
    assert verifier.principal(first).name == "anna"
    hashes = verifier.hashes
    assert verifier.principal(first).name == "anna"
    assert verifier.hashes == hashes  # cached: no second hash
    second = rotate_user(engine, "anna")
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.principal(first)
    assert verifier.principal(second).name == "anna"
    revoke_user(engine, "anna")
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.principal(second)
    third = create_user(engine, "anna", "planner")  # a revoked name may come back
    assert verifier.principal(third).role == "planner"


def test_expired_token_says_so_only_to_its_holder(engine: Engine, verifier: TokenVerifier) -> None:
    token = create_user(engine, "temp", "agent", expires_in_days=1)
    assert verifier.principal(token).name == "temp"
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET expires_at = :t WHERE name = 'temp'"),
            {"t": datetime.now(UTC) - timedelta(minutes=1)},
        )
    with pytest.raises(Unauthorized, match=r"token expired on \d{4}-\d\d-\d\d .*rotate"):
        verifier.principal(token)  # cached a moment ago: still refused on this request
    with pytest.raises(Unauthorized, match="unknown or revoked") as caught:
        verifier.principal(_forged(token))  # a wrong secret learns nothing about expiry
    assert "expired" not in str(caught.value)


def test_cache_keys_never_hold_the_secret(engine: Engine, verifier: TokenVerifier) -> None:
    token = create_user(engine, "anna", "agent")
    verifier.principal(token)
    secret = token.rsplit("_", 1)[1].encode()
    keys = list(verifier._accepted.keys())
    assert len(keys) == 1 and all(secret not in k and len(k) == 32 for k in keys)
    assert token not in repr(verifier._accepted) and secret.decode() not in repr(verifier._accepted)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux")
def test_hashes_run_on_low_priority_threads() -> None:
    gate = HashGate(slots=1, queue=0)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with gate.slot():
        theirs = gate.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert theirs == min(19, mine + HASH_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
