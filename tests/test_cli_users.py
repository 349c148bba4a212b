"""`twin users add|list|revoke` end to end: the printed token works, revocation takes effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from geodata.errors import Unauthorized
from twin.auth import TokenVerifier
from twin.cli import app
from twin.settings import Settings


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)  # no stray .env from the working copy
    return CliRunner()


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
