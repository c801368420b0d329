"""`python -m pipeline` runs the precode CLI."""

from pipeline.cli import main

main()
