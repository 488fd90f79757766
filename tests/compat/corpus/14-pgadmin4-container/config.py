"""Stand-in for pgAdmin's own config module, with its defaults (JSON logging off)."""

JSON_LOGGER = False
CONSOLE_LOG_LEVEL = "WARNING"
CONSOLE_LOG_FORMAT_JSON = {"time": "asctime", "message": "message"}
