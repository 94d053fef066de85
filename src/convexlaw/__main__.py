"""``python -m convexlaw`` runs the command line."""

from convexlaw.cli import main

main()
