"""Stand-in for the airflow package: only what the webserver's Gunicorn config imports."""
