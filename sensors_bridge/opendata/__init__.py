"""Open data from live state: anonymised aggregates of observations over time windows and grid
cells, as CSV and as FIWARE Smart Data Models (NGSI-LD key-values).

- :mod:`.aggregate`: pure: which groups are published (at least ``k`` devices) and with what
  noise (optional differential privacy through OpenDP);
- :mod:`.models`: the Smart Data Models an aggregate's JSON is written in;
- :mod:`.release`: declaring an aggregate and releasing its closed windows, once, in SQL;
- :mod:`.export`: the downloads (the one access rule decides who may have them).
"""
