"""fleetsim: total cost of ownership of LLM inference fleets, from per-token physics.

Public API: :func:`run`, :func:`open_dataset`, :func:`load_catalog`, :class:`InputError`.
"""

from fleetsim.api import run
from fleetsim.catalog import load as load_catalog
from fleetsim.dataset import version as _version
from fleetsim.errors import InputError
from fleetsim.io import open_dataset

__version__ = _version()
__all__ = ["InputError", "__version__", "load_catalog", "open_dataset", "run"]
