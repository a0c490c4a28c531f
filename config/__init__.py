"""Settings and the deployment's replaceable data files (geography, standards, device maps)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
