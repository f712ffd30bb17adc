"""Adapters that read prices from outside sources (CSV files, ENTSO-E, JSON REST) into one PriceBatch."""
