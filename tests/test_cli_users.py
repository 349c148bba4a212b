"""`twin users add|list|revoke` end to end: the printed token works, revocation takes effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.errors import Unauthorized
from twin.auth import TokenVerifier
from twin.cli import app
from twin.settings import Settings


def test_users_add_list_revoke(runner: CliRunner, engine: Engine, settings: Settings) -> None:
    added = runner.invoke(app, ["users", "add", "anna", "--role", "agent"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("twin_")
    verifier = TokenVerifier(engine, settings)
    principal = verifier.principal(token)
    assert (principal.name, principal.role) == ("anna", "agent")

    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "anna" in listed.stdout and "agent" in listed.stdout
    assert token not in listed.stdout

    revoked = runner.invoke(app, ["users", "revoke", "anna"])
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(Unauthorized, match="revoked"):
        TokenVerifier(engine, settings).principal(token)


def test_users_errors_are_one_clear_line(runner: CliRunner) -> None:
    bad_role = runner.invoke(app, ["users", "add", "bob", "--role", "wizard"])
    assert bad_role.exit_code == 1
    assert "unknown role 'wizard'" in bad_role.stderr
    assert runner.invoke(app, ["users", "add", "bob", "--role", "citizen"]).exit_code == 0
    again = runner.invoke(app, ["users", "add", "bob", "--role", "citizen"])
    assert again.exit_code == 1 and "exists" in again.stderr
    missing = runner.invoke(app, ["users", "revoke", "nobody"])
    assert missing.exit_code == 1 and "no active user 'nobody'" in missing.stderr


def _last_line(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_rotate_revokes_the_old_token_and_prints_the_new_one(
    runner: CliRunner, engine: Engine, settings: Settings
) -> None:
    verifier = TokenVerifier(engine, settings)
    old = _last_line(runner.invoke(app, ["users", "add", "anna", "--role", "agent"]))
    assert verifier.principal(old).name == "anna"
    new = _last_line(runner.invoke(app, ["users", "rotate", "anna"]))
    assert new.startswith("twin_") and new != old
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.principal(old)  # refused on the very next check, cache or not
    assert (verifier.principal(new).name, verifier.principal(new).role) == ("anna", "agent")
    missing = runner.invoke(app, ["users", "rotate", "nobody"])
    assert missing.exit_code == 1 and "no active user 'nobody'" in missing.stderr
    assert "Traceback" not in missing.output


def test_a_revoked_name_can_be_added_again(
    runner: CliRunner, engine: Engine, settings: Settings
) -> None:
    first = _last_line(runner.invoke(app, ["users", "add", "bob", "--role", "citizen"]))
    assert runner.invoke(app, ["users", "revoke", "bob"]).exit_code == 0
    second = _last_line(runner.invoke(app, ["users", "add", "bob", "--role", "planner"]))
    verifier = TokenVerifier(engine, settings)
    assert verifier.principal(second).role == "planner"
    with pytest.raises(Unauthorized):
        verifier.principal(first)
    listed = runner.invoke(app, ["users", "list"])
    assert listed.stdout.count("bob") == 1 and "planner" in listed.stdout


def test_expires_in(runner: CliRunner, engine: Engine, settings: Settings) -> None:
    token = _last_line(
        runner.invoke(app, ["users", "add", "temp", "--role", "agent", "--expires-in", "2"])
    )
    assert TokenVerifier(engine, settings).principal(token).name == "temp"
    with engine.connect() as conn:
        left = conn.execute(text("SELECT expires_at - now() FROM users")).scalar_one()
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)
    listed = runner.invoke(app, ["users", "list"])
    assert f"{datetime.now(UTC) + timedelta(days=2):%Y-%m-%d}" in listed.stdout
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET expires_at = now() - interval '1 minute'"))
    with pytest.raises(Unauthorized, match="token expired on"):
        TokenVerifier(engine, settings).principal(token)
    rotated = _last_line(runner.invoke(app, ["users", "rotate", "temp", "--expires-in", "30"]))
    assert TokenVerifier(engine, settings).principal(rotated).name == "temp"
    bad = runner.invoke(app, ["users", "add", "x", "--role", "agent", "--expires-in", "0"])
    assert bad.exit_code == 1 and "--expires-in 0: give a number of days" in bad.stderr


def test_audit_command(runner: CliRunner) -> None:
    assert runner.invoke(app, ["users", "add", "anna", "--role", "agent"]).exit_code == 0
    assert runner.invoke(app, ["users", "rotate", "anna"]).exit_code == 0
    table = runner.invoke(app, ["audit", "--kind", "account", "--since", "1h"])
    assert table.exit_code == 0, table.output
    assert "rotate" in table.stdout and "anna" in table.stdout
    lines = runner.invoke(app, ["audit", "--json"]).stdout.strip().splitlines()
    changes = [json.loads(line)["detail"]["change"] for line in lines]
    assert changes == ["rotate", "add"]
    bad = runner.invoke(app, ["audit", "--kind", "logins"])
    assert bad.exit_code == 1 and "unknown audit kind 'logins'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
