"""The live layer's delivery side: state changes published to the broker after each commit,
and the ``/ws/live`` hub every app worker runs from what it hears on ``twin/live/#``.

The broker is the bus between processes (bridges, app workers, the rules): no bus of our own,
so a clustered broker scales it out with no code change.
"""
