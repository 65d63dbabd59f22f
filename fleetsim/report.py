"""Old home of ``fleetsim-report`` (now :mod:`fleetsim.analysis.report`).

Editable installs made before the analysis subpackage still run ``fleetsim.report:main`` until
``pip install -e .`` rewrites their console script; this keeps them working meanwhile.
"""

from fleetsim.analysis.report import main

__all__ = ["main"]
