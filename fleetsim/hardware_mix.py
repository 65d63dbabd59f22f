"""Hardware mixes: a fleet of several accelerator pools, each serving a share of the traffic.

``mix.candidates`` lists accelerator ids; the mixes are either ``mix.shares`` (explicit share
vectors) or every share vector on a grid of step ``mix.share_step`` (0.25 gives 0, 0.25, ..., 1
per pool, summing to 1). The mixes replace the ``hardware`` dimension with a ``mix`` dimension
whose coordinates read like ``h100-sxm:0.75+mi300x:0.25``; ``fleetsim.analysis.cheapest(ds,
over=("mix",))`` then answers "which mix is cheapest" per scenario. Each pool is sized on its
own physics by :mod:`fleetsim.fleet.mix`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from fleetsim.errors import ConfigError

MAX_POOLS = 6
MAX_MIXES = 10_000


@dataclass(frozen=True)
class Mix:
    """Validated mixes.

    Parameters
    ----------
    candidates : tuple of str
        Hardware ids of the pools.
    shares : ndarray
        ``(n_mixes, len(candidates))`` share of the requests each pool serves; rows sum to 1.
    """

    candidates: tuple[str, ...]
    shares: np.ndarray

    @property
    def labels(self) -> tuple[str, ...]:
        """One coordinate label per mix, e.g. ``h100-sxm:0.75+mi300x:0.25``."""
        return tuple(
            "+".join(f"{c}:{s:g}" for c, s in zip(self.candidates, row, strict=True) if s > 0)
            for row in self.shares
        )


def grid_size(pools: int, parts: int) -> int:
    r"""Return how many share vectors of ``pools`` shares in steps of ``1/parts`` sum to 1.

    Stars and bars: :math:`\binom{parts + pools - 1}{pools - 1}`, computed without
    enumerating them.
    """
    return math.comb(parts + pools - 1, pools - 1)


def share_grid(pools: int, step: float) -> np.ndarray:
    """Return every share vector of ``pools`` shares on a grid of ``step`` that sums to 1.

    Parameters
    ----------
    pools : int
        Number of pools. [1]
    step : float
        Grid spacing; ``1/step`` must be a whole number. [1]

    Returns
    -------
    ndarray
        ``(n, pools)`` shares, each row summing to 1 (pure pools included), in lexicographic
        order of the whole-number parts; ``n`` is :func:`grid_size` (one row per placement of
        ``pools - 1`` bars among ``parts + pools - 1`` slots).
    """
    parts = round(1.0 / step)
    rows = []
    for bars in itertools.combinations(range(parts + pools - 1), pools - 1):
        edges = (-1, *bars, parts + pools - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(pools)])
    return np.array(rows, dtype=np.float64).reshape(-1, pools) / parts


def _coarsest_allowed(pools: int) -> int:
    """Return the most parts per pool whose grid has at most :data:`MAX_MIXES` mixes."""
    parts = 1
    while grid_size(pools, parts + 1) <= MAX_MIXES:
        parts += 1
    return parts


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"{float(n):.3g}" if n < 10**300 else f"10^{len(str(n)) - 1}"


def parse(tree: object, hardware_ids: tuple[str, ...], swept: list[str]) -> Mix | None:
    """Validate the ``mix`` config node; return the mixes, or None when no mix is asked for.

    Raises
    ------
    ConfigError
        Naming ``mix.candidates``, ``mix.share_step`` or ``mix.shares`` and what is allowed.
    """
    node = tree if isinstance(tree, dict) else {}
    candidates, step, shares = node.get("candidates"), node.get("share_step"), node.get("shares")
    if candidates is None:
        if shares is not None:
            raise ConfigError("mix.shares", shares, "null unless mix.candidates lists the pools")
        return None
    if (
        not isinstance(candidates, list)
        or not 2 <= len(candidates) <= MAX_POOLS
        or len(set(map(str, candidates))) != len(candidates)
    ):
        raise ConfigError(
            "mix.candidates", candidates, f"a list of 2 to {MAX_POOLS} different hardware ids"
        )
    for hardware in candidates:
        if hardware not in hardware_ids:
            raise ConfigError(
                "mix.candidates", hardware, f"hardware ids: {', '.join(hardware_ids)}"
            )
    if "hardware" in swept:
        raise ConfigError(
            "hardware", "a list", "one id when mix.candidates is set (the mix replaces it)"
        )
    if shares is None:
        if isinstance(step, bool) or not isinstance(step, int | float) or not 0 < step <= 1:
            raise ConfigError("mix.share_step", step, "a number in (0, 1] with 1/step whole")
        if not math.isfinite(1.0 / step) or abs(1.0 / step - round(1.0 / step)) > 1e-9:
            raise ConfigError("mix.share_step", step, "a number in (0, 1] with 1/step whole")
        size = grid_size(len(candidates), round(1.0 / step))
        if size > MAX_MIXES:  # checked before anything is enumerated
            parts = _coarsest_allowed(len(candidates))
            raise ConfigError(
                "mix.share_step",
                step,
                f"a coarser grid: {len(candidates)} candidates in steps of {step:g} give "
                f"{_count(size)} mixes, at most {MAX_MIXES:,} are allowed "
                f"(mix.share_step={1 / parts:.6g} or coarser, or list mix.shares)",
            )
        table = share_grid(len(candidates), step)
    else:
        table = _explicit(shares, len(candidates))
        if len(table) > MAX_MIXES:
            raise ConfigError("mix.shares", f"{len(table)} rows", f"at most {MAX_MIXES:,} mixes")
    return Mix(tuple(candidates), np.ascontiguousarray(table))


def _explicit(shares: object, pools: int) -> np.ndarray:
    allowed = f"a list of share lists of length {pools}, each in [0, 1] and summing to 1"
    if not isinstance(shares, list) or not shares:
        raise ConfigError("mix.shares", shares, allowed)
    rows = []
    for row in shares:
        if (
            not isinstance(row, list)
            or len(row) != pools
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
            or not all(0 <= v <= 1 for v in row)
            or abs(sum(row) - 1.0) > 1e-9
        ):
            raise ConfigError("mix.shares", row, allowed)
        rows.append([float(v) for v in row])
    if len({tuple(r) for r in rows}) != len(rows):
        raise ConfigError("mix.shares", shares, "a list without repeated share vectors")
    return np.array(rows)
