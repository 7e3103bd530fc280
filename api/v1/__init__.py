"""v1: the flat JSON presentation (see presenter.py); routes are shared in api.resources."""
