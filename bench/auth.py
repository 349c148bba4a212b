"""Benchmark: what a bearer token check costs, by outcome, before and after #14 defect 4.

The peer is the check as it was (read the row; an unknown id answers at once, a known id
pays Argon2), run in the same process on the same database beside today's
``twin.auth.TokenVerifier`` (an unknown id pays Argon2 against a dummy hash). The figure
that matters is the ratio of a known id with a wrong secret to an unknown id: far above 1
before (the answer's time told whether an id exists), about 1 after (target: within 3x).
A cached good token and a malformed one are shown for scale. Each figure is the median of
``--repeat`` checks; failure limits are raised so they never cut the measurement short.
A private PostGIS cluster (temp dir, TWIN_PG_PORT or a free port) is started and removed.

    .venv/bin/python bench/auth.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import private_postgis  # noqa: E402
from geodata.errors import TwinError  # noqa: E402
from twin.accounts import HASHER, create_user  # noqa: E402
from twin.auth import TokenVerifier, _split  # noqa: E402
from twin.settings import Settings  # noqa: E402

console = Console()


def check_before(engine: Engine, token: str) -> bool:
    """The check before the fix (git history of twin/auth.py), without its cache."""
    token_id, secret = _split(token)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT token_hash, revoked_at FROM users WHERE token_id = :i"), {"i": token_id}
        ).first()
    if row is None or row.revoked_at is not None:
        return False
    try:
        return bool(HASHER.verify(row.token_hash, secret))
    except Exception:
        return False


def median_ms(check: Callable[[str], object], tokens: Callable[[int], str], repeat: int) -> float:
    times = []
    for i in range(repeat):
        token = tokens(i)
        t0 = time.perf_counter()
        with contextlib.suppress(TwinError):
            check(token)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with private_postgis("auth") as db:
        work, url, engine = db.work, db.url, db.engine
        settings = Settings(
            database_url=url,
            data_dir=work,
            auth_failures_per_token="100000/minute",
            auth_failures_per_client="100000/minute",
            _env_file=None,  # type: ignore[call-arg]
        )
        verifier = TokenVerifier(engine, settings)
        good = create_user(engine, "anna", "agent")
        prefix = good.rsplit("_", 1)[0]
        verifier.principal(good)  # cached from now on
        cases: dict[str, Callable[[int], str]] = {
            "known id, wrong secret": lambda i: f"{prefix}_wrong-{i}",
            "unknown id": lambda i: f"twin_{i:012x}_whatever-{i}",
            "good token (cached after)": lambda i: good,
            "malformed": lambda i: "nonsense",
        }
        table = Table("check", "before (ms)", "after (ms)")
        results: dict[str, tuple[float, float]] = {}
        for name, tokens in cases.items():
            before = median_ms(lambda t: check_before(engine, t), tokens, args.repeat)
            after = median_ms(verifier.principal, tokens, args.repeat)
            results[name] = (before, after)
            table.add_row(name, f"{before:.2f}", f"{after:.2f}")
        console.print(table)
        (kb, ka), (ub, ua) = results["known id, wrong secret"], results["unknown id"]
        console.print(
            f"known-bad / unknown id: before {kb / ub:.1f}x, after {ka / ua:.2f}x (target < 3x)"
        )


if __name__ == "__main__":
    main()
