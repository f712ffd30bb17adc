"""Device telemetry: ingestion of measured points and reads by time range."""
