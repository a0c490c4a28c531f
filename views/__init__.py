"""Pure view builders shared by layouts and callbacks: components, figures, GeoJSON, tables and CSV
from plain data. No callbacks, no requests, no Redis."""
