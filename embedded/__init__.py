"""Servers started by `python run.py` when no REDIS_URL / MQTT_URL is given, and by the tests."""
