"""`python -m colossim` runs the command line."""

from colossim.cli import main

main()
