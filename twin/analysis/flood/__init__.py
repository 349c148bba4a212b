"""The flood analysis: :mod:`.fill` (which cells flood), :mod:`.exposure` (what is under the
water), :mod:`.analysis` (the analysis the API and ``twin analyse flood`` run)."""

from twin.analysis.flood.analysis import Flood, FloodParams

__all__ = ["Flood", "FloodParams"]
