"""Tests of the simulated SunSpec battery inverter."""
