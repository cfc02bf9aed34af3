"""Flower options from the settings object (`celery -A worker flower --conf=flowerconfig.py`)."""
from settings import get_settings

_settings = get_settings()
port = _settings.flower_port
address = _settings.flower_address
basic_auth = [_settings.flower_basic_auth]
