"""The tree reduction the estimators share: per-chunk partial results (Gram matrices, SOM sums)
merged in a tree of bounded fan-in, on values or on dask Delayed objects alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["tree_reduce"]


def tree_reduce(
    parts: Sequence[Any], combine: Callable[[list[Any]], Any], split_every: int = 8
) -> Any:
    """Merge ``parts`` with ``combine`` in a tree: at most ``split_every`` parts per call.

    Parameters
    ----------
    parts : sequence
        Partial results, one per chunk (values, or dask Delayed objects when ``combine`` is a
        delayed function: the tree is then a task graph of depth ``log(n) / log(split_every)``).
    combine : callable
        Merges a list of two or more parts into one; a group of one part is passed on as it is.
    split_every : int
        The fan-in of the tree (>= 2).

    Returns
    -------
    The merged result (a Delayed for delayed parts).

    Examples
    --------
    >>> tree_reduce([1, 2, 3, 4, 5], sum, split_every=2)
    15
    >>> calls = []
    >>> _ = tree_reduce(list(range(9)), lambda g: calls.append(len(g)) or sum(g), split_every=3)
    >>> calls
    [3, 3, 3, 3]
    """
    if split_every < 2:
        raise ValueError(f"split_every must be >= 2, not {split_every}")
    parts = list(parts)
    if not parts:
        raise ValueError("nothing to reduce")
    while len(parts) > 1:
        groups = [parts[i : i + split_every] for i in range(0, len(parts), split_every)]
        parts = [g[0] if len(g) == 1 else combine(g) for g in groups]
    return parts[0]
