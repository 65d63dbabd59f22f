"""Uncertain inputs: distributions from the ``uncertainty`` config group, drawn outside the kernel.

``uncertainty.<field key>`` mirrors a numeric scenario field of :data:`fleetsim.config.FIELDS`
(e.g. ``uncertainty.finance.electricity_usd_per_kwh``) and holds ``null`` (certain) or one of::

    {dist: uniform,    low: a, high: b}
    {dist: normal,     mean: m, sd: s}          # truncated to the field's allowed range
    {dist: lognormal,  median: m, sigma: s}     # log-space sigma; truncated likewise
    {dist: triangular, low: a, mode: c, high: b}

With ``sweep.samples=N`` every uncertain field gets N draws, in config units, and the sweep gains a
``sample`` dimension whose index sets all uncertain fields at once. Draws depend only on
``sweep.seed`` and the field's key (one numpy ``Generator`` per field, seeded with
``[seed, crc32(key)]``): they are the same in every shard, so merged shards equal the unsharded
run bit for bit, and adding an uncertain field leaves the other fields' draws unchanged.
Values outside the field's bounds (normal and lognormal tails) are redrawn; integer fields are
rounded to the nearest whole number first.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from fleetsim.errors import ConfigError
from fleetsim.fields import Field

#: distribution name -> its parameters (all required, in this order)
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sigma"),
    "triangular": ("low", "mode", "high"),
}
#: every parameter name a distribution may take (config keys under ``uncertainty.<field>.``)
PARAMETERS: tuple[str, ...] = ("dist", *sorted({p for ps in DISTRIBUTIONS.values() for p in ps}))
#: redraw rounds for values outside a field's bounds before giving up
MAX_REDRAWS = 200


@dataclass(frozen=True)
class Distribution:
    """One uncertain field's distribution (parameters in config units).

    Parameters
    ----------
    key : str
        Dotted config key of the scenario field.
    dist : str
        One of :data:`DISTRIBUTIONS`.
    params : tuple of float
        Parameter values in the order of ``DISTRIBUTIONS[dist]``.
    """

    key: str
    dist: str
    params: tuple[float, ...]

    def describe(self) -> str:
        """Return e.g. ``"uniform(low=0.05, high=0.12)"`` (stored in the coordinate's attrs)."""
        names = DISTRIBUTIONS[self.dist]
        inner = ", ".join(f"{n}={v:g}" for n, v in zip(names, self.params, strict=True))
        return f"{self.dist}({inner})"

    def _sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        a = self.params
        if self.dist == "uniform":
            return rng.uniform(a[0], a[1], n)
        if self.dist == "normal":
            return rng.normal(a[0], a[1], n)
        if self.dist == "lognormal":
            return rng.lognormal(math.log(a[0]), a[1], n)
        return rng.triangular(a[0], a[1], a[2], n)

    def draw(self, spec: Field, n: int, seed: int) -> np.ndarray:
        """Return ``n`` draws in config units, inside the field's bounds (rounded for integers).

        Parameters
        ----------
        spec : Field
            The scenario field (its bounds truncate the distribution).
        n : int
            Number of draws.
        seed : int
            ``sweep.seed``.

        Raises
        ------
        ConfigError
            If the distribution puts too little probability inside the field's bounds.
        """
        rng = np.random.default_rng([seed, zlib.crc32(self.key.encode())])
        values = np.empty(n)
        todo = np.arange(n)
        for _ in range(MAX_REDRAWS):
            if not todo.size:
                break
            drawn = self._sample(rng, todo.size)
            if spec.kind == "integer":
                drawn = np.rint(drawn)
            values[todo] = drawn
            todo = todo[~_inside(spec, drawn)]
        if todo.size:
            raise ConfigError(
                f"uncertainty.{self.key}",
                self.describe(),
                f"a distribution with most of its probability inside {_range(spec)}",
            )
        return values


def _inside(spec: Field, values: np.ndarray) -> np.ndarray:
    low_ok = values > spec.low if spec.low_exclusive else values >= spec.low
    return low_ok & (values <= spec.high) & np.isfinite(values)


def _range(spec: Field) -> str:
    return f"{'(' if spec.low_exclusive else '['}{spec.low:g}, {spec.high:g}]"


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(key, value, "a finite number")
    return float(value)


def parse(spec: Field, node: object) -> Distribution | None:
    """Validate ``uncertainty.<spec.key>`` and return its distribution (``None`` if null).

    Parameters
    ----------
    spec : Field
        The scenario field the node refers to.
    node : object
        The resolved config value (a mapping, or ``None``).

    Raises
    ------
    ConfigError
        Naming ``uncertainty.<key>`` (or one of its parameters) and what is allowed.
    """
    key = f"uncertainty.{spec.key}"
    if node is None:
        return None
    if spec.kind not in ("number", "integer"):
        raise ConfigError(key, node, "null (only numeric scenario fields can be uncertain)")
    if not isinstance(node, dict):
        listing = "; ".join(
            f"{{dist: {d}, {', '.join(f'{p}: ..' for p in ps)}}}" for d, ps in DISTRIBUTIONS.items()
        )
        raise ConfigError(key, node, f"null or a distribution: {listing}")
    dist = node.get("dist")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(f"{key}.dist", dist, f"one of {', '.join(DISTRIBUTIONS)}")
    names = DISTRIBUTIONS[dist]
    given = [k for k in node if k != "dist"]
    for name in given:
        if name not in names:
            raise ConfigError(
                f"{key}.{name}", node[name], f"no value: {dist} takes {', '.join(names)}"
            )
    for name in names:
        if node.get(name) is None:
            raise ConfigError(f"{key}.{name}", None, f"a number ({dist} takes {', '.join(names)})")
    params = tuple(_number(f"{key}.{n}", node[n]) for n in names)
    _check_params(spec, key, dist, dict(zip(names, params, strict=True)))
    return Distribution(spec.key, dist, params)


def _check_params(spec: Field, key: str, dist: str, p: dict[str, float]) -> None:
    allowed = _range(spec)

    def inside(name: str) -> None:
        value = p[name]
        if not _inside(spec, np.array([value]))[0]:
            raise ConfigError(
                f"{key}.{name}", value, f"a value inside {spec.key}'s range {allowed}"
            )

    if dist in ("uniform", "triangular"):
        if not p["low"] < p["high"]:
            raise ConfigError(f"{key}.high", p["high"], f"a number above low={p['low']:g}")
        inside("low")
        inside("high")
        if dist == "triangular" and not p["low"] <= p["mode"] <= p["high"]:
            raise ConfigError(
                f"{key}.mode", p["mode"], f"a number in [low, high] = [{p['low']:g}, {p['high']:g}]"
            )
    elif dist == "normal":
        if p["sd"] <= 0.0:
            raise ConfigError(f"{key}.sd", p["sd"], "a number above 0")
        inside("mean")
    else:
        if p["median"] <= 0.0:
            raise ConfigError(f"{key}.median", p["median"], "a number above 0")
        if p["sigma"] <= 0.0:
            raise ConfigError(f"{key}.sigma", p["sigma"], "a number above 0")
        inside("median")
