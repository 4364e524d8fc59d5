"""The bank app's page forms (Flask-WTF: every POST carries a CSRF token)."""
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from ...common.forms import PageForm


class LoginForm(PageForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=40)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class SignupForm(PageForm):
    full_name = StringField("Your name", validators=[DataRequired(), Length(max=100)])
    username = StringField("Username", validators=[DataRequired(), Length(min=3, max=40), Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", message="Use letters, digits, dots, dashes or underscores.")])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=200, message=(
        "Choose a password of at least 8 characters."))])
    pin = PasswordField("PIN", validators=[DataRequired(), Regexp(r"^\d{4,6}$", message="The PIN must be 4 to 6 digits.")])
    pin_again = PasswordField("PIN again", validators=[DataRequired(), EqualTo("pin", message="The two PINs differ.")])


class ApproveForm(PageForm):
    pin = PasswordField("PIN", validators=[DataRequired(message="Enter your PIN to approve."),
                                           Regexp(r"^\d{4,6}$", message="The PIN is 4 to 6 digits.")])

