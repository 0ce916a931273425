"""PEP 562 lazy attributes, shared by the packages whose imports must stay cheap (``reliability_assets``,
``reliability_assets.incidents``): a name's module is imported on first access, then the value is cached."""

from __future__ import annotations

import importlib

#: ``typing`` costs more than the modules using this: type checkers read this constant as ``typing``'s.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping
    from typing import Any


def lazy_attributes(
    namespace: MutableMapping[str, Any], lazy: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace``; ``lazy`` maps
    each public name to the module that defines it."""

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace["__all__"]})

    return __getattr__, __dir__
