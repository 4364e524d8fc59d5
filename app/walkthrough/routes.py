"""The walkthrough pages and their JSON: only the learner who owns a journey can see it."""
from flask import abort, current_app, jsonify, redirect, render_template
from sqlalchemy import select

from ..common.errors import ApiError
from ..common.sessions import load_server_session
from ..common.tracing import journey_owner
from ..extensions import db
from . import bp
from .models import Journey
from .recorder import LANES, message_json


def current_owner():
    """The journeys' owner this browser is: the learner signed in to the shop, else None."""
    user_id = load_server_session(current_app, "shop").get("user_id")
    return journey_owner(user_id)


def _journeys(owner):
    return db.session.scalars(select(Journey).where(Journey.owner == owner)
                              .order_by(Journey.created_at.desc()).limit(30)).all()


@bp.get("/")
def index():
    owner = current_owner()
    if owner is None:
        return render_template("walkthrough/signin_first.html"), 200
    journeys = _journeys(owner)
    return render_template("walkthrough/walkthrough.html", journeys=journeys, journey=journeys[0] if journeys else None,
                           lanes=LANES, live=True)


@bp.get("/<public_id:journey_id>")
def journey_page(journey_id):
    owner = current_owner()
    if owner is None:
        return redirect("/shop/signin?next=/shop/")
    journey = db.session.get(Journey, journey_id)
    if journey is None or journey.owner != owner:
        abort(404, "No such journey of yours.")
    return render_template("walkthrough/walkthrough.html", journeys=_journeys(owner), journey=journey, lanes=LANES,
                           live=False)


@bp.get("/api/me")
def whoami():
    """Whether the shop knows who this browser is: the sign-in-first page waits for it, to go live."""
    return jsonify(signed_in=current_owner() is not None)


@bp.get("/api/journeys")
def my_journeys():
    """The learner's journeys, newest first: a live page that has just connected its socket catches up
    with whatever was recorded between its own load and the connect (the recorder runs on its own)."""
    owner = current_owner()
    if owner is None:
        raise ApiError(404, "not_found", "Sign in to the shop to see your journeys.")
    return jsonify(journeys=[{"id": j.id, "title": j.title} for j in _journeys(owner)])


@bp.get("/api/journeys/<public_id:journey_id>")
def journey_messages(journey_id):
    owner = current_owner()
    journey = db.session.get(Journey, journey_id)
    if owner is None or journey is None or journey.owner != owner:
        raise ApiError(404, "not_found", "No such journey of yours.")
    return jsonify(id=journey.id, messages=[message_json(m) for m in journey.messages])
