"""The operator dashboard: server-rendered pages, htmx fragments, and live updates over WebSocket."""
