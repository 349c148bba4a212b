"""Digging safety: the buried segments and nodes a planned dig may meet (``twin analyse
dig``), in the spirit of the French DT-DICT procedure, with an HTML and a PDF report."""

from __future__ import annotations

from twin.analysis.dig.analysis import DigParams, DigSafety

__all__ = ["DigParams", "DigSafety"]
