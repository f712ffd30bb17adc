"""Allow `python -m gridpilot`."""

from gridpilot.cli import main

main()
