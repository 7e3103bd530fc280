"""Interactive documentation at /api/docs: Swagger UI from the installed flask-swagger-ui
package (no CDN, so it works offline), switching between the documents of every version."""

from flask import Flask
from flask_swagger_ui import get_swaggerui_blueprint

from api.platform.ratelimit import limiter

DOCS_PATH = "/api/docs"


def init_app(app: Flask) -> None:
    versions = app.extensions["api_versions"]
    # Paths only, built without a request (whose Host TRUSTED_HOSTS might refuse).
    routes = app.url_map.bind("")
    urls = [
        {"name": f"v{version}", "url": routes.build(f"api.v{version}.openapi")}
        for version in reversed(versions.numbers)
    ]
    blueprint = get_swaggerui_blueprint(
        DOCS_PATH,
        urls[0]["url"],
        config={
            "app_name": "Book API",
            "urls": urls,
            "urls.primaryName": urls[0]["name"],
            "persistAuthorization": True,
            "displayRequestDuration": True,
        },
        blueprint_name="docs",
    )
    limiter.exempt(blueprint)  # static assets of a page, not API calls
    app.register_blueprint(blueprint)
