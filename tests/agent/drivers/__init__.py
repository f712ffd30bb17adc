"""Tests of the battery drivers."""
