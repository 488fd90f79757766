from uvicorn.workers import UvicornWorker as BaseUvicornWorker


class UvicornWorker(BaseUvicornWorker):
    # Override default config args, that cannot be passed as gunicorn parameters.
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "h11",
        "lifespan": "off",
        "ws": "none",
    }
