"""The simulator: the demo's devices and buses, alive (``twin simulate``).

:mod:`.profiles` says what a device measures at a time (pure, seeded), :mod:`.messages` how
it says it in its protocol, :mod:`.buses` the synthetic bus lines and their GTFS-realtime,
:mod:`.run` who sends when, :mod:`.publish` where it goes, :mod:`.demo` which devices the
demo district registers.
"""
