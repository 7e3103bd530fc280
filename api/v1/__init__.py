"""v1: the flat JSON presentation (see presenter.py); routes are shared in api.resources."""

from api.v1.presenter import V1Presenter
from api.versioning.registry import Version

VERSION = Version(
    number="1",
    presenter_class=V1Presenter,
    description=(
        "Version 1: flat JSON. Unparseable query values fall back to their defaults; "
        "refresh tokens are not rotated."
    ),
    strict_query=False,
    rotate_refresh_tokens=False,
)
