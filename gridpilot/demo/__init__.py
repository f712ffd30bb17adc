"""`gridpilot demo`: the whole system on one machine — server, simulated fleet, market day — in under a minute.

`runner` orchestrates; `state` keeps what a rerun picks up; `server` and `broker` run the child processes;
`market` runs tomorrow's day-ahead market through the real services; `live` lays the plan the fleet executes
now; `timeline` (pure) relabels the shipped price sample and quickens or compresses plans.
"""
