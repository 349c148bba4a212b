"""Network ageing: which water or sewer mains to renew first (``twin analyse ageing``).

The break model (:mod:`.survival`) is fitted on the network's recorded breaks
(``network_events``), each segment's failure probability over the horizon is multiplied by
the consequence of its failure (:mod:`.criticality`), and the product ranked as a 0-100
renewal score with the points each factor accounts for (:mod:`.scores`). Scores can be
stored on ``network_segments.renewal_score`` so the network tiles carry them.
"""

from __future__ import annotations

from twin.analysis.ageing.analysis import AgeingParams, NetworkAgeing

__all__ = ["AgeingParams", "NetworkAgeing"]
