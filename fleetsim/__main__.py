"""``python -m fleetsim`` runs the CLI."""

from fleetsim.cli import main

main()
