"""The audit log: who wrote what, and when."""
