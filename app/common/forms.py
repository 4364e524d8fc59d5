"""The base of every page's form (Flask-WTF: every POST carries a CSRF token)."""
from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # Flask-WTF's "read the request" marker; no public name exists for it

NUL = "\x00"
NUL_ERROR = "This can't contain a NUL character (U+0000): remove it and try again."


class PageForm(FlaskForm):
    """A form of a server's pages: it reads form fields, never a JSON body.

    Flask-WTF would take a JSON body as the form's data, and JSON can hold what no form
    field parses (`false`, a list, null, an object where a number belongs): a 500. A page's
    form posted as JSON is simply a form without data, answered like any incomplete form.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto and request.is_json:
                return None
            return super().wrap_formdata(form, formdata)

    def validate(self, extra_validators=None):
        """Refuse a NUL character (U+0000) in any field first, next to that field, with what was typed kept.

        No field has a use for one, and PostgreSQL refuses it in text: a NUL in a login name reached
        the query as a 500 there (SQLite stored it quietly). Checked before every other validator,
        since some of them read the database.
        """
        with_nul = [field for field in self if any(isinstance(value, str) and NUL in value
                                                   for value in (field.raw_data or ()))]
        if not with_nul:
            return super().validate(extra_validators)
        for field in self:
            field.errors = [NUL_ERROR] if field in with_nul else []
        self.form_errors = []
        return False


class ConfirmForm(PageForm):
    """A button-only form (sign out, remove, cancel, decline): just the CSRF token."""
