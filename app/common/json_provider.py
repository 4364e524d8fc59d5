"""JSON bodies nested deeper than the parser goes are a bad request (400), like any other bad JSON.

Werkzeug's `request.get_json()` turns a ValueError from the parser into a 400, but Python's
parser raises RecursionError for a body nested a few thousand levels deep (`[[[[…]]]]`, 20 KB),
which escaped every view as a 500. Raised as a ValueError here, it takes the same way as any
other malformed JSON, in every view at once.
"""
from flask.json.provider import DefaultJSONProvider


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None
