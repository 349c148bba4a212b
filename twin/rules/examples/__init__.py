"""The shipped example rules (``twin rules examples``), applied by ``twin demo``.

Why YAML files in the package and not Python: they are what a user copies and edits, and
``twin rules apply`` reads them as it reads the user's own.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from twin.rules.model import Rule
from twin.rules.parse import parse_rules

FOLDER = Path(__file__).resolve().parent


def files() -> list[Path]:
    return sorted(FOLDER.glob("*.yaml"))


def example_text() -> str:
    """Every example as one rule file (``twin rules examples > rules.yaml`` applies as is)."""
    parts = ["rules:"]
    for path in files():
        body = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln != "rules:"]
        parts += [f"# --- {path.name}", *body]
    return "\n".join(parts) + "\n"


def example_rules() -> list[Rule]:
    return [r for p in files() for r in parse_rules(p.read_text(encoding="utf-8"), p.name)]


def load_examples(engine: Engine, actor: str = "demo") -> list[str]:
    """Apply the examples (an unchanged rule is left as it is); summary lines."""
    from twin.rules.store import apply_rules

    rules = example_rules()
    with engine.begin() as conn:
        done = apply_rules(conn, rules, actor)
    return [f"rules: {len(rules)} example rules ({'; '.join(done.lines())})"]
