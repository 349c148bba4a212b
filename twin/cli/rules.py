"""``twin rules apply|list|show|delete|tick|examples``: rules as data (YAML or JSON files)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

rules_app = typer.Typer(
    help="Rules over live observations: thresholds with hysteresis, durations, rates, "
    "no-data timeouts, geofences; alerts, MQTT commands, LoRaWAN downlinks, webhooks.",
    no_args_is_help=True,
)


def _actor() -> str:
    from twin.cli.users import cli_actor

    return cli_actor()


@rules_app.command("apply")
def rules_apply(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON rule files.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Also delete the stored rules the files do not name.")
    ] = False,
) -> None:
    """Create or update the rules of FILES by name (all or nothing; errors name the line and
    the field). A changed rule starts again from ok for every device."""
    from geodata.errors import InputError
    from twin.rules.parse import parse_rules
    from twin.rules.store import apply_rules
    from twin.runtime import Runtime

    with user_errors():
        rules = []
        for file in files:
            if not file.is_file():
                raise InputError(f"{file}: no such file")
            rules += parse_rules(file.read_text(encoding="utf-8"), str(file))
        names = [r.name for r in rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"rules named in two files: {', '.join(twice)}; nothing was applied")
        with Runtime(settings()) as rt:
            rt.check()
            with rt.engine.begin() as conn:
                done = apply_rules(conn, rules, _actor(), replace=replace)
        for line in done.lines():
            console.print(line, highlight=False)


@rules_app.command("list")
def rules_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """The stored rules, what they watch and how many devices are in each state."""
    import json

    from rich.table import Table

    from twin.rules.store import load_rules, state_rows
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        with rt.engine.connect() as conn:
            loaded = load_rules(conn)
            states = state_rows(conn)
        counts: dict[int, dict[str, int]] = {}
        for s in states:
            c = counts.setdefault(s["rule_id"], {})
            c[s["state"]] = c.get(s["state"], 0) + 1
        if as_json:
            for lr in loaded:
                doc = {**lr.rule.public(), "states": counts.get(lr.id, {})}
                out.print(json.dumps(doc), highlight=False, soft_wrap=True)
            return
        table = Table("name", "kind", "metric", "for", "severity", "enabled", "states")
        for lr in loaded:
            r, c = lr.rule, counts.get(lr.id, {})
            metrics = ", ".join(sorted(r.metrics()))
            shown = ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"
            table.add_row(
                r.name, r.kind, metrics, f"{r.for_:g} s", r.severity, str(r.enabled), shown
            )
        out.print(table)


@rules_app.command("delete")
def rules_delete(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Delete a rule and its states (its alerts are kept, with the rule's name)."""
    from twin.rules.store import delete_rule
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        with rt.engine.begin() as conn:
            delete_rule(conn, name, _actor())
        console.print(f"rule {name!r} deleted")


@rules_app.command("tick")
def rules_tick(
    at: Annotated[
        datetime | None,
        typer.Option(help="The clock's time (ISO 8601, UTC unless it says); default: now."),
    ] = None,
) -> None:
    """Run the no-data sweep once at --at (what the bridge does every
    TWIN_RULES_SWEEP_SECONDS): for scripts and tests that drive the clock."""
    from datetime import UTC

    from twin.rules.listener import Evaluator, sweep
    from twin.runtime import Runtime

    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        moved = sweep(rt.engine, Evaluator(), when)
        console.print(f"{moved} rule states changed (the bridge or server sends their actions)")


@rules_app.command("examples")
def rules_examples() -> None:
    """Print the shipped example rules (what `twin demo` applies)."""
    from twin.rules.examples import example_text

    out.print(example_text(), highlight=False, soft_wrap=True, markup=False)
