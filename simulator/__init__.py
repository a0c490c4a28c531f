"""Simulated field traffic for ecocommand: patrol units (JSON), vessels (AIS NMEA) and water-quality
sensors (JSON), published over MQTT by `simulator.main.run` or driven directly through
`simulator.main.Simulation` in tests.
"""
