"""The merchant portal's form (Flask-WTF: every POST carries a CSRF token)."""
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ...common.forms import PageForm


class MerchantLoginForm(PageForm):
    client_id = StringField("Client id", validators=[
        DataRequired(message="Enter your client id."),
        Length(max=48, message="A client id has at most 48 characters: check the client id you pasted.")])
    client_secret = PasswordField("Client secret", validators=[
        DataRequired(message="Enter your client secret."),
        Length(max=200, message="A client secret has at most 200 characters: check the client secret you pasted.")])
