"""What every version gets, apart from the versions: authentication, hardening, rate limits,
CORS, the request log, errors, request bodies, conditional requests, paging, OpenAPI, the docs
page and the directory."""
