"""The base of every page's form (Flask-WTF: every POST carries a CSRF token)."""
from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # Flask-WTF's "read the request" marker; no public name exists for it


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


class ConfirmForm(PageForm):
    """A button-only form (sign out, remove, cancel, decline): just the CSRF token."""
