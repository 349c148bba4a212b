"""Which listeners every batch writer of this process gets: one registry, one composition.

The bridge (``twin bridge``) and the app's ingest routes both write observations; both must
feed the same rules and the same live hub, so both build their listeners here from the same
settings. A live-layer module registers its factory by dotted path (imported only when a
writer is built); a factory returns ``None`` when its feature is switched off.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sensors_bridge.listeners import BatchListener
    from twin.settings import Settings

ListenerFactory = Callable[["Settings", "Engine"], "BatchListener | None"]
_REGISTRY: dict[str, ListenerFactory | str] = {}


def register(name: str, factory: ListenerFactory | str) -> None:
    """Register a listener factory, or its dotted path ``package.module:function``."""
    _REGISTRY[name] = factory


def listeners_for(settings: Settings, engine: Engine) -> tuple[BatchListener, ...]:
    """A new listener of every registered kind that is switched on, in registration order."""
    built: list[BatchListener] = []
    for name, factory in list(_REGISTRY.items()):
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
            assert callable(factory)
            _REGISTRY[name] = factory
        listener = factory(settings, engine)
        if listener is not None:
            built.append(listener)
    return tuple(built)


def close_all(listeners: tuple[BatchListener, ...]) -> None:
    """Close every listener, the last built first."""
    for listener in reversed(listeners):
        listener.close()


register("rules", "twin.rules.listener:factory")
register("live", "twin.live.publish:factory")
