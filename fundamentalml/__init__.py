"""FundamentalML: the course's package.

``fundamentalml.pretrained(name)`` loads a shipped model (checked against its manifest);
``fundamentalml.get_run(name, profile)`` trains a model or loads the run it already made. Both are imported
on first use, so ``import fundamentalml.models`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_run", "pretrained"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'fundamentalml' has no attribute {name!r}")
