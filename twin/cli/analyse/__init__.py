"""``twin analyse NAME ...``: one module per analysis, each adding its command to
:data:`analyse_app`; a new analysis' command is one module and one line here."""

from __future__ import annotations

from importlib import import_module

from twin.cli.analyse.common import analyse_app

#: command modules, each importing only Typer at module level
COMMANDS = (
    "sun",
    "shadows",
    "sunhours",
    "balcony",
    "scenario",
    "flood",
    "dig",
    "ageing",
    "walks",
)

for _module in COMMANDS:
    import_module(f"twin.cli.analyse.{_module}")

__all__ = ["analyse_app"]
