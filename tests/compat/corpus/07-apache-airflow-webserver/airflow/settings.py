"""Stand-in for airflow.settings: the one name gunicorn_config.py reads (Airflow's value)."""

# the prefix to append to gunicorn worker processes after init
GUNICORN_WORKER_READY_PREFIX = "[ready] "
