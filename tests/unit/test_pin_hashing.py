"""How a PIN is kept: a salted HMAC under a pepper the database never holds (the reasoning is in
app/bank/pins.py), old scrypt hashes still accepted and moved over, the pepper rotatable."""
import hashlib
import hmac

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app import create_app
from app.bank import cards, pins, services
from app.bank.models import Customer
from app.extensions import db
from config import TestConfig

KEY = "11" * 32
OTHER = "22" * 32


def test_a_pin_is_a_salted_hmac_under_the_pepper():
    peppers = pins.parse_peppers(KEY)
    first, second = pins.hash_pin("1234", peppers), pins.hash_pin("1234", peppers)
    assert first != second  # a salt each: equal PINs do not show as equal rows
    scheme, key_id, salt, digest = first.split("$")
    assert scheme == "hmac-sha256" and key_id == hashlib.sha256(bytes.fromhex(KEY)).hexdigest()[:8]
    assert digest == hmac.new(bytes.fromhex(KEY), bytes.fromhex(salt) + b"1234", hashlib.sha256).hexdigest()
    assert pins.check_pin(first, "1234", peppers) == (True, False)
    assert pins.check_pin(first, "1235", peppers) == (False, False)
    # Without the pepper the database's copy opens to nothing: no key with that id, no PIN matches.
    assert pins.check_pin(first, "1234", pins.parse_peppers(OTHER)) == (False, False)


def test_the_pepper_can_be_rotated():
    old = pins.hash_pin("1234", pins.parse_peppers(OTHER))
    rotated = pins.parse_peppers(f"{KEY},{OTHER}")
    assert pins.check_pin(old, "1234", rotated) == (True, True)  # right, and to be stored under the new key
    assert pins.hash_pin("1234", rotated).split("$")[1] == hashlib.sha256(bytes.fromhex(KEY)).hexdigest()[:8]


@pytest.mark.parametrize("setting", ["", "not-hex", "abcd", f"{KEY},zz"])
def test_a_bad_pepper_setting_stops_the_start(setting, tmp_path):
    with pytest.raises(pins.PinPepperError):
        pins.parse_peppers(setting)
    if setting:  # empty means "generate one into instance/"
        config = type("Config", (TestConfig,), {"BANK_PIN_PEPPER": setting})
        with pytest.raises(pins.PinPepperError):
            create_app(config, instance_path=str(tmp_path / "instance"))


def test_the_embedded_default_keeps_the_pepper_in_instance_not_in_the_database(app):
    pepper_file = app.instance_path + "/bank-pin-pepper.key"
    assert open(pepper_file).read().strip() == app.config["BANK_PIN_PEPPER"]
    assert app.extensions["bank_pin_peppers"] == [bytes.fromhex(app.config["BANK_PIN_PEPPER"])]
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    assert customer.pin_hash.startswith("hmac-sha256$") and app.config["BANK_PIN_PEPPER"] not in customer.pin_hash


def test_a_pin_stored_by_an_older_version_still_works_and_is_moved_over(app):
    customer = services.create_customer("oldtimer", "a-long-password", "2580", 0)
    customer.pin_hash = generate_password_hash("2580")  # as every version before this one stored it
    db.session.commit()
    card = cards.customer_card(customer)
    with pytest.raises(cards.WrongPin):
        cards.check_card_pin(card, "0000")
    assert customer.pin_hash.startswith("scrypt:")  # a wrong PIN changes nothing
    cards.check_card_pin(card, "2580")
    db.session.expire_all()
    assert customer.pin_hash.startswith("hmac-sha256$")
    cards.check_card_pin(card, "2580")
