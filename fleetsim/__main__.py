"""``python -m fleetsim`` runs the CLI."""

from fleetsim.cli import command

command()
