"""Operators, API keys, JWT bearer tokens and device credentials checks."""
