"""Tests of the device agent."""
