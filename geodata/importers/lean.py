"""``twin import`` without pandas: an import of Arrow batches never needs it.

Three places load pandas (about a third of a second and 50 MB of a ``twin import``) without
an import using it: pyogrio's package start-up imports geopandas only to note the installed
versions for its data-frame functions; pyarrow's Python layer imports pandas the first time
it turns a Python value into Arrow, to ask whether it is a pandas object; and Arrow's C++
conversions to and from numpy import it to learn pandas' missing-value types. The OGR
reader hands Arrow batches on and the mapping works in Arrow
(:mod:`geodata.importers.mapping`), so none of the answers matter to an import.

:func:`without_pandas` hides pandas and geopandas (a module finder that says they are not
installed) for the ``with`` block, when they are not loaded already: the command wraps an
import in it. Whatever needs pandas in the block calls :func:`with_pandas` first (the frames
adapter, the CityJSON reader, a plug-in reader's module), which ends the hiding and lets
pyarrow find pandas again; after the block, pyarrow's pandas support comes back by itself
when pandas is first imported. :func:`pyogrio` starts pyogrio and sets its version flags from the
installed packages' metadata, so ``read_dataframe`` and geopandas' ``read_file``/``to_file``
work later in the process.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import metadata
from importlib.abc import Loader
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

_HIDDEN = ("pandas", "geopandas")


class _Hidden:
    """A module finder that says the named packages are not installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = set(names)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.partition(".")[0] in self.names:
            raise ImportError(
                f"{name} is hidden while an import reads Arrow batches: call "
                "geodata.importers.lean.with_pandas() before importing it"
            )
        return None


#: the finder in place while an import runs without pandas
_ACTIVE: list[_Hidden] = []


@contextmanager
def without_pandas() -> Iterator[None]:
    """Hide pandas and geopandas for the block, unless one is loaded already."""
    if "pandas" in sys.modules or "geopandas" in sys.modules or _ACTIVE:
        yield
        return
    finder = _Hidden(_HIDDEN)
    sys.meta_path.insert(0, finder)
    _ACTIVE.append(finder)
    try:
        import pyarrow.lib

        pyarrow.lib._pandas_api.have_pandas  # noqa: B018 - asked once, now: "no"
        yield
    finally:
        _stop_hiding()


def with_pandas() -> None:
    """End the hiding (if on) and let pyarrow use pandas again: a frame is on its way."""
    if not _ACTIVE:
        return
    _stop_hiding(later=False)
    _rearm_pyarrow()


def _rearm_pyarrow() -> None:
    """pyarrow tries pandas again; one it refuses (too old) leaves it without, as before."""
    import pyarrow.lib

    with suppress(ImportError):
        pyarrow.lib._pandas_api.pd  # noqa: B018 - the property imports pandas for real


def _stop_hiding(*, later: bool = True) -> None:
    """End the hiding; ``later``: have pyarrow's pandas support come back with pandas."""
    was_on = bool(_ACTIVE) and later
    while _ACTIVE:
        finder = _ACTIVE.pop()
        if sys.meta_path is not None and finder in sys.meta_path:  # None: at shutdown
            sys.meta_path.remove(finder)
    if was_on and sys.meta_path is not None and "pandas" not in sys.modules:
        sys.meta_path.insert(0, _Rearm())


class _Rearm:
    """Finds pandas the first time it is imported after the hiding, so that pyarrow's pandas
    support is switched back on as soon as pandas has loaded (pyarrow asked once, during the
    hiding, and would otherwise keep its "no")."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != "pandas":
            return None
        sys.meta_path.remove(self)
        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRearm(spec.loader)
        return spec


class _ThenRearm(Loader):
    """pandas' own loader, then :func:`with_pandas`'s re-arming of pyarrow."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _rearm_pyarrow()

    def __getattr__(self, name: str) -> Any:  # resource readers and the like
        return getattr(self.loader, name)


def pyogrio() -> ModuleType:
    """The pyogrio module, started without pandas when that is not loaded already."""
    if "pyogrio" in sys.modules:
        return sys.modules["pyogrio"]
    import pyogrio as module

    if _ACTIVE:  # it started without (geo)pandas: its flags say they are missing
        _restore_flags()
    loaded: ModuleType = module
    return loaded


def _restore_flags() -> None:
    """pyogrio's HAS_GEOPANDAS and PANDAS_GE_xy as its own start-up would have set them."""
    compat = sys.modules["pyogrio._compat"]
    frames = sys.modules.get("pyogrio.geopandas")
    pandas = _major_minor("pandas")
    # the path finder, not the import system: geopandas is hidden from that
    installed = PathFinder.find_spec("geopandas") is not None
    flags: dict[str, bool] = {"HAS_GEOPANDAS": installed}
    for name in vars(compat):
        found = re.fullmatch(r"PANDAS_GE_(\d)(\d+)", name)
        if found:  # pyogrio compares with "X.Y.0" or "X.Y.0dev": a release X.Y passes both
            flags[name] = pandas is not None and pandas >= (int(found[1]), int(found[2]))
    for module in (compat, frames):
        if module is None:
            continue
        for name, value in flags.items():
            if hasattr(module, name):
                setattr(module, name, value)


def _major_minor(dist: str) -> tuple[int, int] | None:
    """The installed package's (major, minor) version, without importing it: from the name
    of its ``dist-info`` folder beside it (one folder listing), else its metadata (a scan of
    every installed package, ~40 ms)."""
    spec = PathFinder.find_spec(dist)
    if spec is None:
        return None
    version = None
    if spec.origin:
        site = Path(spec.origin).parent.parent
        found = sorted(site.glob(f"{dist}-*.dist-info"))
        version = found[0].name[len(dist) + 1 : -len(".dist-info")] if len(found) == 1 else None
    if version is None:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None
    numbers = re.findall(r"\d+", version)
    return (int(numbers[0]), int(numbers[1])) if len(numbers) >= 2 else None
