"""The bank app's page forms (Flask-WTF: every POST carries a CSRF token).

Every message names its field and says what to do: "This field is required." five times
on one page tells nobody which field it meant.
"""
from wtforms import PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from ...common.forms import PageForm
from ...common.money import InvalidAmount, format_money, parse_money


class LoginForm(PageForm):
    username = StringField("Username", validators=[
        DataRequired(message="Enter your username."),
        Length(max=40, message="A username has at most 40 characters: check the username you typed.")])
    password = PasswordField("Password", validators=[
        DataRequired(message="Enter your password."),
        Length(max=200, message="A password has at most 200 characters: check the password you typed.")])


class SignupForm(PageForm):
    full_name = StringField("Your name", validators=[
        DataRequired(message="Enter your name."),
        Length(max=100, message="Write your name in at most 100 characters.")])
    username = StringField("Username", validators=[
        DataRequired(message="Enter a username."),
        Length(min=3, max=40, message="Choose a username of 3 to 40 characters."),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
               message="Use only letters, digits, dots, dashes or underscores in your username.")])
    password = PasswordField("Password", validators=[
        DataRequired(message="Choose a password."),
        Length(min=8, message="Choose a password of at least 8 characters."),
        Length(max=200, message="Choose a password of at most 200 characters.")])
    pin = PasswordField("PIN", validators=[
        DataRequired(message="Choose a PIN of 4 to 6 digits."),
        Regexp(r"^\d{4,6}$", message="The PIN must be 4 to 6 digits.")])
    pin_again = PasswordField("PIN again", validators=[
        DataRequired(message="Type your PIN again."),
        EqualTo("pin", message="The two PINs differ: type the same PIN twice.")])


class ApproveForm(PageForm):
    pin = PasswordField("PIN", validators=[DataRequired(message="Enter your PIN to approve."),
                                           Regexp(r"^\d{4,6}$", message="The PIN is 4 to 6 digits.")])


AMOUNT_FORMAT = "Enter the amount in rand with at most 2 decimals, such as 250.50."


class AddFundsForm(PageForm):
    """Add funds: an amount in rand, typed as people type money ("250.50", "R 1 000")."""

    amount = StringField("Amount to add (R)", validators=[
        DataRequired(message="Enter the amount to add, such as 500 or 250.50."),
        Length(max=20, message=AMOUNT_FORMAT)])

    def validate_amount(self, field):
        """Text → whole cents (`amount_cents`); the daily limit is the bank's to check, from its ledger."""
        if field.errors:  # too long to be an amount: said once is enough
            return
        text = field.data.strip().removeprefix("R").removeprefix("r")
        if text.lstrip().startswith("-"):
            raise ValidationError(f"Enter an amount above {format_money(0)}.")
        try:
            self.amount_cents = parse_money(text)
        except InvalidAmount:
            raise ValidationError(AMOUNT_FORMAT) from None
        if self.amount_cents <= 0:
            raise ValidationError(f"Enter an amount above {format_money(0)}.")
