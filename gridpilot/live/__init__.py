"""Live events: what just happened in the fleet, fanned out to every server process (and so every browser)."""
