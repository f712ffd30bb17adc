"""Adapters between the server and its message brokers (MQTT to the devices, RabbitMQ for workers)."""
