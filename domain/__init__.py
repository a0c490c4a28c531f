"""The domain: pure rules of the bureau (no Redis, no MQTT, no web), tested directly."""
