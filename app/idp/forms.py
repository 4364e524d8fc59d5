"""PayLab ID's forms (Flask-WTF: every POST carries a CSRF token)."""
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..common.forms import PageForm


class SignInForm(PageForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password."), Length(max=200)])


class SignUpForm(PageForm):
    name = StringField("Your name", validators=[DataRequired(message="Tell us your name."), Length(max=100)])
    email = EmailField("Email", validators=[DataRequired(message="Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(message="Choose a password."), Length(max=200)])


class ConsentForm(PageForm):
    decision = HiddenField()
