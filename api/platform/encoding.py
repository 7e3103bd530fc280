"""JSON responses encoded with orjson, byte for byte what Flask's own encoder writes.

A page of books took Flask's encoder (the standard library's) longer than any other part of
its presentation; orjson writes the same compact JSON a dozen times faster. Wherever the two
could differ, Flask's encoder writes the body instead, so no response changes:

* a body with any non-ASCII character or DEL (Flask escapes them as ``\\uXXXX``; orjson
  writes UTF-8, and DEL as it is);
* anything orjson does not encode natively (datetimes, dataclasses, ``Decimal``, subclasses of
  str, int, dict and list) goes to Flask's ``default`` as it would there;
* anything orjson refuses (integers beyond 64 bits, keys that are not strings);
* sorted keys, when configured, use orjson's OPT_SORT_KEYS; indented (debug) output is Flask's.

Floats would differ in exponent notation (``1e-07`` against ``1e-7``), and NaN or infinity
(Flask writes ``NaN``, which is not JSON; orjson ``null``); the API's bodies hold no floats.
"""

from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider

_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class FastJSONProvider(DefaultJSONProvider):
    def encode(self, obj) -> bytes | None:
        """The compact encoding of ``obj`` when it is Flask's own, else None."""
        option = _PASSTHROUGH | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)
        try:
            data = orjson.dumps(obj, default=self.default, option=option)
        except (orjson.JSONEncodeError, TypeError):
            return None
        return data if data.isascii() and b"\x7f" not in data else None

    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented
        obj = self._prepare_response_obj(args, kwargs)
        data = self.encode(obj)
        if data is None:
            return super().response(obj)
        return self._app.response_class(data + b"\n", mimetype=self.mimetype)
