"""Rules over live observations: what the city does when a value crosses a level, stays
there, changes too fast, goes silent or leaves an area (docs/ARCHITECTURE.md, "Rules and
alerts"). ``model``/``parse`` read rule files, ``evaluate`` is the state machine, ``store``
keeps states and rules, ``alerts``/``actions``/``outbox``/``publish`` act, ``listener``
hangs it all on the batch writer."""
