"""Scenario axes: which config fields become dimensions, and their values for the kernel.

``model`` and ``hardware`` are always dimensions (length 1 when not swept); every other field
is a dimension when it is given as a list. Axes keep config order (:data:`fleetsim.config.FIELDS`).
With ``sweep.samples=N`` and an ``uncertainty`` group, a last ``sample`` axis of N Monte Carlo
draws follows; one index along it sets every uncertain field at once (:class:`SampleAxis`).
The kernel decodes a flat index into one index per axis (C order, last axis fastest).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from fleetsim.catalog import Catalog
from fleetsim.config import FIELDS, Field, Scenario
from fleetsim.errors import ConfigError

ALWAYS_DIMENSIONS = ("model", "hardware")


@dataclass(frozen=True)
class Axis:
    """One dimension of a sweep.

    Parameters
    ----------
    field : Field
        The config field swept along this axis.
    labels : tuple
        Coordinate values as given in config (catalog ids, labels or numbers).
    """

    field: Field
    labels: tuple

    @property
    def name(self) -> str:
        """Dimension name (last part of the config key)."""
        return self.field.name

    def __len__(self) -> int:
        return len(self.labels)

    def kernel_values(self, catalog: Catalog) -> np.ndarray:
        """Return the axis values as the kernel reads them (SI numbers or integer codes)."""
        return np.array(
            [kernel_value(self.field, v, catalog) for v in self.labels], dtype=np.float64
        )

    def subset(self, start: int, stop: int) -> Axis:
        """Return the axis restricted to ``labels[start:stop]``."""
        return Axis(self.field, self.labels[start:stop])

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields one index along the axis sets (one for a plain axis)."""
        return (self.field,)


MIX = "mix"


@dataclass(frozen=True)
class MixAxis(Axis):
    """The ``mix`` dimension: replaces ``hardware`` when ``mix.candidates`` is set.

    Its kernel values are row indexes into the mix table (:class:`fleetsim.hardware_mix.Mix`),
    written into the ``hardware`` slot; ``indices`` keeps them right for a shard's subset.
    """

    indices: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        """Dimension name: ``mix``."""
        return MIX

    def kernel_values(self, catalog: Catalog) -> np.ndarray:
        """Return the mix-table rows of this axis's mixes."""
        return np.array(self.indices, dtype=np.float64)

    def subset(self, start: int, stop: int) -> MixAxis:
        """Return the axis restricted to mixes ``start:stop``."""
        return MixAxis(self.field, self.labels[start:stop], self.indices[start:stop])


SAMPLE = "sample"


@dataclass(frozen=True, eq=False)
class SampleAxis:
    """The Monte Carlo axis: index ``i`` sets every uncertain field to its ``i``-th draw.

    Parameters
    ----------
    fields : tuple of Field
        The uncertain fields, in :data:`fleetsim.config.FIELDS` order.
    labels : tuple of int
        Sample numbers (0-based positions in the whole sweep's draws; a shard holds a slice).
    draws : ndarray
        float64 ``(len(labels), len(fields))`` values in config units.
    distributions : tuple of str
        Description of each field's distribution (e.g. ``"uniform(low=0.05, high=0.12)"``).
    """

    fields: tuple[Field, ...]
    labels: tuple
    draws: np.ndarray
    distributions: tuple[str, ...]

    name = SAMPLE

    def __len__(self) -> int:
        return len(self.labels)

    def kernel_values(self, catalog: Catalog) -> np.ndarray:
        """Return ``(len, n_fields)`` SI values, flattened row by row (what the kernel reads)."""
        factors = np.array([f.si_factor for f in self.fields])
        return np.ascontiguousarray(self.draws * factors).ravel()

    def subset(self, start: int, stop: int) -> SampleAxis:
        """Return the axis restricted to samples ``start:stop``."""
        return SampleAxis(
            self.fields, self.labels[start:stop], self.draws[start:stop], self.distributions
        )


def kernel_value(spec: Field, value: object, catalog: Catalog) -> float:
    """Convert one validated config value to the kernel's float.

    Parameters
    ----------
    spec : Field
        The field.
    value : object
        Validated value (id, label or number; ``inf`` for a null bound).
    catalog : Catalog
        Catalog, for id -> row index.

    Returns
    -------
    float
        Row index for catalog ids, code for labels, ``value * si_factor`` for numbers.
    """
    if spec.kind == "catalog":  # a nullable catalog field's null is -1
        return -1.0 if value is None else float(catalog.tables[spec.catalog].ids.index(value))
    if spec.kind == "choice":
        return float(spec.choices.index(value))
    if value == "auto":  # the kernel searches this value
        return 0.0
    return float(value) * spec.si_factor


def build(scenario: Scenario) -> tuple[Axis | SampleAxis, ...]:
    """Return the sweep's axes in config order, then the ``sample`` axis if there are draws."""
    result: list[Axis | SampleAxis] = [
        Axis(spec, scenario.values[spec.key])
        for spec in FIELDS
        if spec.key in scenario.swept or spec.key in ALWAYS_DIMENSIONS
    ]
    mix = scenario.run.get("mix")
    if mix is not None:  # the mix dimension takes the hardware dimension's place
        result = [
            MixAxis(a.field, mix.labels, tuple(range(len(mix.labels))))
            if a.field.key == "hardware"
            else a
            for a in result
        ]
    samples = scenario.run.get("sweep.samples", 0)
    if samples and scenario.uncertain:
        seed = scenario.run["sweep.seed"]
        specs = tuple(spec for spec in FIELDS if spec.key in scenario.uncertain)
        columns = [scenario.uncertain[s.key].draw(s, samples, seed) for s in specs]
        result.append(
            SampleAxis(
                specs,
                tuple(range(samples)),
                np.column_stack(columns),
                tuple(scenario.uncertain[s.key].describe() for s in specs),
            )
        )
    return tuple(result)


def base_vector(scenario: Scenario, catalog: Catalog) -> np.ndarray:
    """Return the kernel's parameter vector with every field's first value (SI)."""
    return np.array(
        [kernel_value(s, scenario.values[s.key][0], catalog) for s in FIELDS], dtype=np.float64
    )


def shape(axes: tuple[Axis, ...]) -> tuple[int, ...]:
    """Return the grid shape of the axes."""
    return tuple(len(a) for a in axes)


def size(axes: tuple[Axis, ...]) -> int:
    """Return the number of scenarios of the axes."""
    return prod(shape(axes))


def shard_axis(axes: tuple[Axis, ...]) -> int:
    """Return the index of the axis :func:`shard` cuts: the longest, the first of equal ones.

    Parameters
    ----------
    axes : tuple of Axis
        The whole sweep's axes.

    Returns
    -------
    int
        Position of the sharded axis in ``axes``.
    """
    return int(np.argmax(shape(axes)))


def shard(axes: tuple[Axis, ...], shards: int, index: int) -> tuple[Axis, ...]:
    """Return the axes of shard ``index`` of ``shards``.

    The longest axis (the first of equal ones) is cut into ``shards`` contiguous blocks, so each
    shard is a rectangular sub-grid and shards recombine by coordinates
    (``xarray.open_mfdataset(..., combine="by_coords")``).

    Raises
    ------
    ConfigError
        If no axis has at least ``shards`` values.
    """
    if shards == 1:
        return axes
    lengths = shape(axes)
    k = shard_axis(axes)
    if lengths[k] < shards:
        raise ConfigError(
            "sweep.shards",
            shards,
            f"at most the longest swept dimension ({axes[k].name}: {lengths[k]} values)",
        )
    bounds = np.linspace(0, lengths[k], shards + 1).round().astype(int)
    return tuple(
        a.subset(bounds[index], bounds[index + 1]) if i == k else a for i, a in enumerate(axes)
    )
