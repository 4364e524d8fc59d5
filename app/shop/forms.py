"""The shop's forms (Flask-WTF: every POST carries a CSRF token). Each message names its field and says
what to do: WTForms' own ("Field must be between 3 and 120 characters long.") says neither."""
from wtforms import HiddenField, IntegerField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from ..common.forms import PageForm
from .catalogue import DELIVERY_METHODS, PROVINCES
from .services import PAYMENT_TOKEN_FORMAT


class QuantityForm(PageForm):
    quantity = IntegerField("Quantity", default=1, invalid_value_message="Choose a quantity from 0 to 10.",
                            validators=[NumberRange(min=0, max=10, message="Choose a quantity from 0 to 10.")])


class DeliveryForm(PageForm):
    method = RadioField("Delivery", choices=[SelectChoice(key, label) for key, (label, _, _) in DELIVERY_METHODS.items()],
                        validators=[DataRequired(message="Choose how you want your order delivered.")],
                        invalid_choice_message="Choose one of the delivery options.")


class AddressForm(PageForm):
    full_name = StringField("Full name", validators=[
        DataRequired(message="Enter the name of the person receiving the parcel."),
        Length(max=100, message="Keep the full name to 100 characters or fewer.")])
    phone = StringField("Mobile number", validators=[
        DataRequired(message="Enter a mobile number for the courier."),
        Regexp(r"^(\+27|0)[1-9]\d{8}$", message="Enter a South African number such as 082 123 4567 or +27 82 123 4567.")],
        filters=[lambda v: v.replace(" ", "") if v else v])
    street = StringField("Street address", validators=[
        DataRequired(message="Enter the street address."),
        Length(min=3, max=120, message="Enter a street address of 3 to 120 characters.")])
    suburb = StringField("Suburb", validators=[
        Optional(), Length(max=80, message="Keep the suburb to 80 characters or fewer.")])
    city = StringField("City or town", validators=[
        DataRequired(message="Enter the city or town."),
        Length(max=80, message="Keep the city or town to 80 characters or fewer.")])
    province = SelectField("Province", choices=[SelectChoice("", "Choose a province")] + [SelectChoice(p) for p in PROVINCES],
                           validators=[DataRequired(message="Choose a province.")],
                           invalid_choice_message="Choose a province from the list.")
    postal_code = StringField("Postal code", validators=[
        DataRequired(message="Enter the postal code."),
        Regexp(r"^\d{4}$", message="A South African postal code has 4 digits, such as 8001.")])


STALE_PAYMENT_FORM = "This payment form is out of date: reload the page and try again."


class PayForm(PageForm):
    card_number = StringField("Card number", validators=[
        DataRequired(message="Enter the card number shown in your banking app."),
        Length(max=30, message="That is too long for a card number: type the one your banking app shows.")])
    # The shop makes this token (services.new_payment_token) and sends it to the bank as the
    # Idempotency-Key header, so only its own URL-safe alphabet may come back: a header cannot carry
    # non-ASCII, and a request that fails on the way would leave the order waiting forever.
    payment_token = HiddenField(validators=[
        DataRequired(message=STALE_PAYMENT_FORM),
        Regexp(rf"^{PAYMENT_TOKEN_FORMAT.pattern}$", message=STALE_PAYMENT_FORM)])
