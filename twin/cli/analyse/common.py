"""What every ``twin analyse`` command shares: the command group, and running one analysis
with a progress bar, then printing one JSON document (``--json``) or a readable summary.

The commands themselves (one module each, listed in :mod:`twin.cli.analyse`) only turn
their options into the analysis' parameters; validation, access, the cache and the files
are the runner's (:mod:`twin.analysis.runner`), as for the API.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from twin.cli.common import console, out, settings, user_errors

analyse_app = typer.Typer(
    help="Analyses of the twin (sun, shadows, views, floods, digs, networks, walks): each "
    "prints one JSON document with --json. Points are in the working CRS unless an option "
    "says lon/lat.",
    no_args_is_help=True,
)

#: the --json option every command takes
JSON_HELP = "Print one JSON document on stdout (and nothing else there)."


def run_cli(
    name: str,
    raw: dict[str, Any],
    *,
    as_json: bool,
    out_dir: Path | None = None,
    files_to: dict[str, Path | None] | None = None,
) -> dict[str, Any]:
    """Run analysis ``name`` on ``raw`` parameters (None values are left out: the model's
    defaults apply) as the local administrator; write its files into ``out_dir`` and/or to
    the paths ``files_to`` maps file names to; print the result. Returns the document."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from geodata.access import Principal
    from twin.analysis.base import AnalysisContext
    from twin.analysis.registry import get_analysis
    from twin.analysis.runner import parse_params, run_analysis, store_for
    from twin.cli.users import cli_actor
    from twin.runtime import Runtime

    with user_errors():
        analysis = get_analysis(name)
        params = parse_params(analysis, {k: v for k, v in raw.items() if v is not None})
        with (
            Runtime(settings()) as rt,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            rt.check()
            task = bar.add_task(name, total=1.0)

            def progress(share: float, what: str) -> None:
                bar.update(task, completed=share, description=f"{name}: {what}" if what else name)

            ctx = AnalysisContext(rt.engine, rt.settings, Principal(cli_actor(), "admin"), progress)
            outcome = run_analysis(analysis, ctx, params)
            store = store_for(ctx)
            written: dict[str, str] = {}
            for fname in outcome.stored.files:
                targets = []
                if out_dir is not None:
                    targets.append(out_dir / fname)
                target = (files_to or {}).get(fname)
                if target is not None:
                    targets.append(target)
                for path in targets:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(store.file(outcome.stored.key, fname).read_bytes())
                    written[fname] = str(path)
    doc = dict(outcome.stored.data)
    if written:
        doc["files"] = written
    if as_json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
    else:
        _summary(doc)
    return doc


def _summary(doc: dict[str, Any], indent: str = "") -> None:
    """Scalars as ``key: value``; lists by their length and first items; nested objects
    indented. GeoJSON geometry is not printed (``--json`` has it)."""
    for key, value in doc.items():
        if isinstance(value, dict) and value.get("type") in ("Feature", "FeatureCollection"):
            out.print(f"{indent}{key}: GeoJSON {value['type']} (see --json)", highlight=False)
        elif isinstance(value, dict):
            out.print(f"{indent}{key}:", highlight=False)
            _summary(value, indent + "  ")
        elif isinstance(value, list):
            out.print(f"{indent}{key}: {len(value)} item(s)", highlight=False)
            for item in value[:5]:
                out.print(f"{indent}  - {json.dumps(item, default=str)[:120]}", highlight=False)
        elif isinstance(value, float):
            out.print(f"{indent}{key}: {value:.6g}", highlight=False)
        else:
            out.print(f"{indent}{key}: {value}", highlight=False)


def json_option() -> Any:
    return typer.Option("--json", help=JSON_HELP)
