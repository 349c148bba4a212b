"""The twin's analyses: functions over the stored model that answer a question (what a
project takes from a balcony, where a flood reaches, which pipes to renew, how to walk there).

Each analysis is one :class:`twin.analysis.base.Analysis` subclass in a module of its own,
named in :mod:`twin.analysis.registry`; the API (:mod:`twin.api.analysis`) and the CLI
(``twin analyse``) are built from that registry, so an analysis is usable without HTTP and
gets its route, its access check, its cache and its job handling from one place.
"""
