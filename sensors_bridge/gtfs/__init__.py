"""GTFS, static and realtime: timetables into the twin, next departures out of it.

- :mod:`~sensors_bridge.gtfs.feed` reads a static feed (a zip of CSV files) into plain rows,
  checking every value and naming the file and line of the first bad one;
- :mod:`~sensors_bridge.gtfs.store` writes a feed all-or-nothing: its stops become ``bus_stop``
  furniture through the import pipeline (the one reprojection place), the timetable goes to
  the ``gtfs_*`` tables;
- :mod:`~sensors_bridge.gtfs.realtime` parses GTFS-realtime FeedMessages and keeps them;
- :mod:`~sensors_bridge.gtfs.predict` is the GTFS-realtime propagation rule, a pure function;
- :mod:`~sensors_bridge.gtfs.departures` puts schedule and realtime together for one stop.
"""
