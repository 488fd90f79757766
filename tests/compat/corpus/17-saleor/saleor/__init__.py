"""Stand-in for the saleor package (its __init__ sets up celery and patches; nothing of it is needed here)."""
