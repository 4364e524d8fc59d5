"""Issue 10: every form says, in plain words, which field is wrong and what to do; no field says "None"."""
import inspect
import re

import pytest
from flask import render_template_string
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField
from wtforms.fields.core import UnboundField

from app.bank.app import forms as bank_app_forms
from app.bank.portal import forms as portal_forms
from app.common.forms import PageForm
from app.idp import forms as idp_forms
from app.shop import forms as shop_forms

FORM_MODULES = (shop_forms, bank_app_forms, portal_forms, idp_forms)

# WTForms' own messages: they name no field ("This field is required." five times on one page).
DEFAULT_MESSAGES = re.compile(
    r"^(This field is required|Field must|Field cannot|Not a valid|Invalid (input|value|choice|email)|"
    r"Number must be|Field must be equal to|Invalid Choice)", re.IGNORECASE)
# Words of a label that say nothing about which field it is.
FILLER_WORDS = {"your", "the", "or", "and", "again", "to", "add", "of", "in"}


def page_forms():
    """Every page form with a field people type into: the shop's, the bank app's (add funds too), the
    merchant portal's and PayLab ID's."""
    found = []
    for module in FORM_MODULES:
        for name, form_class in inspect.getmembers(module, inspect.isclass):
            fields = [getattr(form_class, attr) for attr in dir(form_class)]
            if issubclass(form_class, PageForm) and form_class.__module__ == module.__name__ and any(
                    isinstance(field, UnboundField) and field.field_class is not HiddenField for field in fields):
                found.append(pytest.param(form_class, id=f"{module.__name__}.{name}"))
    return found


def _answers(form_class):
    """Form data a person (or a careless one) might send: nothing, one letter, far too much, nonsense."""
    names = [name for name, field in form_class(meta={"csrf": False}, formdata=None)._fields.items()]
    return [MultiDict({name: value(name) for name in names}) for value in (
        lambda name: "", lambda name: "x", lambda name: "x" * 1000, lambda name: f"{name}-not-valid", lambda name: " ")]


def _label_words(label):
    return {word[:4] for word in re.findall(r"[a-z]+", label.lower()) if word not in FILLER_WORDS and len(word) >= 3}


@pytest.mark.parametrize("form_class", page_forms())
def test_every_message_names_its_field_and_is_not_a_wtforms_default(app, form_class):
    seen = 0
    for data in _answers(form_class):
        with app.test_request_context(method="POST", data=data):
            form = form_class(meta={"csrf": False})
            form.validate()
            for name, errors in form.errors.items():
                field = form[name]
                if isinstance(field, HiddenField):
                    continue  # nobody types into it: its message says to reload the page
                for message in errors:
                    seen += 1
                    assert not DEFAULT_MESSAGES.match(message), f"{name}: WTForms' default {message!r}"
                    assert message.endswith("."), f"{name}: {message!r} is not a sentence"
                    words = _label_words(field.label.text)
                    assert any(word in message.lower() for word in words), \
                        f"{name} ({field.label.text}): {message!r} does not say which field it is about"
    assert seen, "no answer was refused: the test checked nothing"


def test_the_bank_sign_up_names_each_missing_field(app):
    """Issue 10's picture: "This field is required." five times, and which field was which?"""
    with app.test_request_context(method="POST", data={}):
        form = bank_app_forms.SignupForm(meta={"csrf": False})
        assert not form.validate()
        messages = [errors[0] for errors in form.errors.values()]
    assert len(messages) == 5 and len(set(messages)) == 5, messages
    assert form.errors["username"] == ["Enter a username."]


def test_a_username_of_the_wrong_length_says_how_long(app):
    with app.test_request_context(method="POST", data={"username": "ab"}):
        form = bank_app_forms.SignupForm(meta={"csrf": False})
        form.validate()
    assert form.errors["username"] == ["Choose a username of 3 to 40 characters."]


# --- no attribute says "None" -------------------------------------------------------------

SHOP_FIELDS = """{% from "shop/_field.html" import field %}
{{ field(form.full_name, autocomplete="name") }}{{ field(form.suburb) }}{{ field(form.city) }}"""
SHOP_CARD = """{% from "shop/_field.html" import field %}{{ field(form.card_number, autocomplete="cc-number") }}"""
IDP_FIELDS = """{% from "idp/_field.html" import field %}{{ field(form.name) }}{{ field(form.email) }}"""
BANK_FIELDS = """{% from "bank/_field.html" import field %}{{ field(form.username, autocomplete="username") }}
{{ field(form.password) }}"""


@pytest.mark.parametrize("template, form_class", [
    (SHOP_FIELDS, shop_forms.AddressForm), (SHOP_CARD, shop_forms.PayForm), (IDP_FIELDS, idp_forms.SignUpForm),
    (BANK_FIELDS, bank_app_forms.LoginForm), (BANK_FIELDS, bank_app_forms.SignupForm),
])
def test_a_field_given_no_placeholder_has_none_rather_than_the_word_none(app, template, form_class):
    with app.test_request_context():
        html = render_template_string(template, form=form_class(meta={"csrf": False}))
    assert "None" not in html, html
    assert "<input" in html


@pytest.mark.parametrize("path", ["/bank/app/login", "/bank/app/signup", "/bank/merchant/login", "/idp/signin",
                                  "/idp/signup"])
def test_no_sign_in_page_renders_an_attribute_as_none(client, path):
    html = client.get(path).get_data(as_text=True)
    assert "<input" in html
    assert not re.search(r'="None"', html), re.findall(r'<input[^>]*="None"[^>]*>', html)
