"""The merchant portal's form (Flask-WTF: every POST carries a CSRF token)."""
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ...common.forms import PageForm


class MerchantLoginForm(PageForm):
    client_id = StringField("Client id", validators=[DataRequired(), Length(max=48)])
    client_secret = PasswordField("Client secret", validators=[DataRequired(), Length(max=200)])
