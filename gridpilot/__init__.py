"""gridpilot: an open platform for running fleets of smart batteries."""

__version__ = "0.1.0"
