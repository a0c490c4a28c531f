"""Connections to the outside: Redis and the MQTT broker, shared by every process."""
