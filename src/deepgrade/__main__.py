"""``python -m deepgrade`` runs the ``grade`` command."""

from deepgrade.cli import main

main()
