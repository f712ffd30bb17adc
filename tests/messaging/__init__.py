"""Tests of the message-broker adapters, against a real Mosquitto."""
