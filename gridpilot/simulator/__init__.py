"""A simulated SunSpec battery inverter (Modbus TCP), so the agent can be tested against real protocol behaviour."""
