"""One scenario field's description: kind, bounds, unit factor.

Shared by the config schema (``config.FIELDS``) and the distributions of ``uncertainty``, so
neither imports the other's module for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One scenario field of the config.

    Parameters
    ----------
    key : str
        Dotted config key.
    kind : str
        ``"number"``, ``"integer"``, ``"choice"`` or ``"catalog"``.
    low, high : float
        Inclusive bounds for numbers (``high`` may be ``inf``).
    choices : tuple of str
        Allowed labels for ``"choice"`` fields.
    catalog : str
        Catalog table for ``"catalog"`` fields (``"hardware"``, ``"models"``, ...).
    nullable : bool
        ``null`` allowed, meaning "no bound" (stored as ``inf``).
    si_factor : float
        Multiply the config value by this to get SI (e.g. USD/kWh -> USD/J).
    low_exclusive : bool
        The lower bound itself is not allowed.
    auto : bool
        The label ``"auto"`` is allowed (the kernel searches the value; stored as 0).
    """

    key: str
    kind: str
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[str, ...] = ()
    catalog: str = ""
    nullable: bool = False
    si_factor: float = 1.0
    low_exclusive: bool = False
    auto: bool = False

    @property
    def name(self) -> str:
        """Dimension name of the field when swept: the last part of its key."""
        return self.key.rsplit(".", 1)[-1]
