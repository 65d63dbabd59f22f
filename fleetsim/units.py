"""The only module that knows non-SI units.

Catalog files state a unit on every row; :func:`to_si` converts a value in one of the units
below to fleetsim's internal SI quantity (s, B, FLOP, FLOP/s, B/s, W, J, USD). Output variables
and coordinates carry UDUNITS strings (``byte``, ``s-1``, ``kW-1 h-1``) that cf_units and
cf_xarray's pint registry parse; UDUNITS has no currency, so money is a ``currency`` attribute
(``USD``) beside the rest of its unit (``1`` for USD, ``kW-1 h-1`` for USD/kWh), and
:func:`display` joins the two for people (``USD/kWh``). Tokens and requests are counts: ``1``.
"""

from __future__ import annotations

SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760.0
SECONDS_PER_YEAR = SECONDS_PER_HOUR * HOURS_PER_YEAR
SECONDS_PER_DAY = 86400.0
MONTHS_PER_YEAR = 12.0
JOULES_PER_KWH = 3.6e6

#: catalog unit string -> (SI quantity, factor to SI)
CATALOG_UNITS: dict[str, tuple[str, float]] = {
    "FLOP/s": ("FLOP/s", 1.0),
    "TFLOP/s": ("FLOP/s", 1e12),
    "PFLOP/s": ("FLOP/s", 1e15),
    "TOP/s": ("FLOP/s", 1e12),
    "B": ("B", 1.0),
    "GB": ("B", 1e9),
    "GiB": ("B", 2.0**30),
    "TB": ("B", 1e12),
    "B/s": ("B/s", 1.0),
    "GB/s": ("B/s", 1e9),
    "GiB/s": ("B/s", 2.0**30),
    "TB/s": ("B/s", 1e12),
    "Gb/s": ("B/s", 1e9 / 8.0),
    "W": ("W", 1.0),
    "kW": ("W", 1e3),
    "USD": ("USD", 1.0),
    "USD/h": ("USD/s", 1.0 / SECONDS_PER_HOUR),
    "s": ("s", 1.0),
    "ms": ("s", 1e-3),
    "us": ("s", 1e-6),
    "1": ("1", 1.0),
    "billion": ("1", 1e9),
    "m2": ("m2", 1.0),
    "ft2": ("m2", 0.09290304),
    "category": ("category", 1.0),
}


def to_si(value: float, unit: str, quantity: str) -> float:
    """Convert ``value`` given in catalog ``unit`` to the SI ``quantity``.

    Parameters
    ----------
    value : float
        Number as written in the catalog. [unit]
    unit : str
        Catalog unit string, one of :data:`CATALOG_UNITS`.
    quantity : str
        SI quantity the schema expects (e.g. ``"FLOP/s"``).

    Returns
    -------
    float
        The value in SI units. [quantity]

    Raises
    ------
    ValueError
        If the unit is unknown or measures another quantity.
    """
    if unit not in CATALOG_UNITS:
        raise ValueError(f"unknown unit {unit!r}; allowed: {', '.join(sorted(CATALOG_UNITS))}")
    unit_quantity, factor = CATALOG_UNITS[unit]
    if unit_quantity != quantity:
        allowed = sorted(u for u, (q, _) in CATALOG_UNITS.items() if q == quantity)
        raise ValueError(f"unit {unit!r} measures {unit_quantity}, expected {quantity} ({allowed})")
    return value * factor


#: UDUNITS unit of a price (after its currency) -> how people write it
_PER = {"1": "", "kW-1 h-1": "/kWh", "kW-1": "/kW", "h-1": "/h", "year-1": "/year",
        "kW-1 month-1": "/(kW month)"}  # fmt: skip
#: UDUNITS strings people write otherwise
_PLAIN = {"1": "", "g kW-1 h-1": "g/kWh", "s-1": "1/s", "m2": "m²", "byte": "B"}


def display(units: str, currency: str | None = None) -> str:
    """Return a variable's unit as people write it: ``("kW-1 h-1", "USD")`` -> ``USD/kWh``.

    Parameters
    ----------
    units : str
        The ``units`` attribute (UDUNITS).
    currency : str, optional
        The ``currency`` attribute of a money variable.

    Returns
    -------
    str
        Empty for a dimensionless quantity.
    """
    if currency:
        return currency + _PER.get(units, f" {units}")
    return _PLAIN.get(units, units)
