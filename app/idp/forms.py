"""PayLab ID's forms (Flask-WTF: every POST carries a CSRF token). Each message names its field."""
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..common.forms import PageForm


class SignInForm(PageForm):
    email = EmailField("Email", validators=[
        DataRequired(message="Enter your email address."),
        Length(max=254, message="An email address has at most 254 characters: check the email you typed.")])
    password = PasswordField("Password", validators=[
        DataRequired(message="Enter your password."),
        Length(max=200, message="A password has at most 200 characters: check the password you typed.")])


class SignUpForm(PageForm):
    name = StringField("Your name", validators=[
        DataRequired(message="Tell us your name."),
        Length(max=100, message="Write your name in at most 100 letters, spaces and punctuation.")])
    email = EmailField("Email", validators=[
        DataRequired(message="Enter your email address."),
        Length(max=254, message="An email address has at most 254 characters: use a shorter email address.")])
    password = PasswordField("Password", validators=[
        DataRequired(message="Choose a password."),
        Length(max=200, message="Choose a password of at most 200 characters.")])


class ConsentForm(PageForm):
    decision = HiddenField()
