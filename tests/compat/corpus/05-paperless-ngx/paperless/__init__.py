"""Stand-in for the paperless package (its __init__ imports celery and the checks; nothing of it is needed here)."""
