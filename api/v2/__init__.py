"""v2: envelope-and-links presentation (presenter.py); routes are shared in api.resources."""
