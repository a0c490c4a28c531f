"""The ingest worker: MQTT messages validated and decoded into operations the store writes."""
