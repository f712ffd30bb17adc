"""The fleet: devices and their limits, schedules, acknowledgements of executions."""
