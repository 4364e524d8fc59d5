"""PayLab ID's pages and endpoints: sign up/in/out, authorize + consent, token, userinfo, JWKS, discovery."""
from functools import wraps
from urllib.parse import parse_qs, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for

from ..common.headers import allow_form_action
from ..common.ratelimit import rate_limited, sign_in_limited, token_request_limited
from ..common.security import local_path_or
from ..common.signins import begin_sign_in, end_sign_in
from ..common.forms import ConfirmForm
from ..common.tracing import walkthrough_step
from ..extensions import csrf, db
from . import bp, services
from .forms import ConsentForm, SignInForm, SignUpForm
from .keys import public_jwks
from .models import User
from .oauth2 import discovery_document, oidc_server, require_user_token, user_info

SCOPE_TEXT = {"openid": "Know who you are (a stable, private identifier)",
              "profile": "See your name", "email": "See your email address"}


def current_user():
    return db.session.get(User, session.get("user_id") or 0)


def _safe_next(target):
    """Only paths on this provider: a `next` can never send you to another site, nor break the Location header."""
    return local_path_or(target, "/idp/", url_for("idp.account"))


def _sign_in(user):
    """A fresh PayLab ID session, recorded so that signing out ends every copy of its cookie."""
    begin_sign_in(session, "idp", f"user:{user.id}")
    session["user_id"] = user.id


def user_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        g.user = current_user()
        if g.user is None:
            return redirect(url_for("idp.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def forms_lead_to_the_client(view):
    """This page's forms end in a redirect to the client's redirect_uri: its CSP lets them (form-action).

    The provider only ever redirects to a registered redirect_uri, so this allows nothing it would not do.
    """
    @wraps(view)
    def wrapped(*args, **kwargs):
        allow_form_action(_requested_redirect_uri())
        return view(*args, **kwargs)
    return wrapped


def _requested_redirect_uri():
    """The redirect_uri of this authorization request, or of the one waiting behind sign-in (`next`)."""
    if "redirect_uri" in request.args:
        return request.args["redirect_uri"]
    next_url = urlsplit(request.args.get("next", ""))
    if next_url.path == url_for("idp.authorize"):
        return parse_qs(next_url.query).get("redirect_uri", [""])[0]
    return ""


@bp.route("/signin", methods=["GET", "POST"])
@sign_in_limited(account_field="email", account_key=services.normalise_email)
@forms_lead_to_the_client
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            _sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("That email and password do not match an account.", "error")
    return render_template("idp/signin.html", form=form, next=request.args.get("next", ""))


@bp.route("/signup", methods=["GET", "POST"])
@rate_limited("RATELIMIT_SIGNUP")
@forms_lead_to_the_client
def sign_up():
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(form.email.data, form.name.data, form.password.data)
        except services.IdpError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
        else:
            _sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("idp/signup.html", form=form, next=request.args.get("next", ""),
                           min_length=services.MIN_PASSWORD_LENGTH)


@bp.post("/signout")
def sign_out():
    if ConfirmForm().validate_on_submit():
        end_sign_in(session)
        flash("You are signed out of PayLab ID.", "info")
    return redirect(url_for("idp.sign_in"))


@bp.get("/")
@user_required
def account():
    consents = [(services.find_client(c.client_id), c) for c in services.consents_of(g.user)]
    return render_template("idp/account.html", user=g.user, consents=[(cl, c) for cl, c in consents if cl],
                           form=ConfirmForm(), scope_text=SCOPE_TEXT)


@bp.post("/consents/<client_id>/revoke")
@user_required
def revoke(client_id):
    if ConfirmForm().validate_on_submit():
        services.revoke_consent(g.user, client_id)
        flash("Access removed. The app will ask again next time.", "info")
    return redirect(url_for("idp.account"))


# --- OpenID Connect ----------------------------------------------------------------

def _authorization_error(error):
    """Refuse a bad authorization request before any login page: redirect only to a verified URI."""
    if getattr(error, "redirect_uri", None):
        return oidc_server().handle_error_response(request, error)
    return render_template("idp/error.html", status=400, title="This sign-in link is not valid",
                           message=error.get_error_description() or error.error), 400


@bp.route("/authorize", methods=["GET", "POST"])
@forms_lead_to_the_client
def authorize():
    """Validate the request first; then sign in if needed; then ask consent once per client and scope."""
    user = current_user()
    try:
        grant = oidc_server().get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _authorization_error(error)
    if user is None:
        return redirect(url_for("idp.sign_in", next=request.full_path))
    client, scope = grant.client, grant.request.payload.scope or ""
    consent = services.consent_for(user, client.client_id)
    prompts = (grant.request.payload.data.get("prompt") or "").split()
    if request.method == "GET":
        if consent and consent.covers(scope) and "consent" not in prompts:
            return oidc_server().create_authorization_response(grant=grant, grant_user=user)
        return render_template("idp/consent.html", user=user, client=client, scopes=scope.split(),
                               scope_text=SCOPE_TEXT, form=ConsentForm())
    if not ConsentForm().validate_on_submit():
        abort(400, "The form expired; go back to the app and sign in again.")
    if request.form.get("decision") == "allow":
        services.remember_consent(user, client.client_id, scope)
        return oidc_server().create_authorization_response(grant=grant, grant_user=user)
    return oidc_server().create_authorization_response(grant=grant, grant_user=None)  # access_denied


@bp.post("/token")
@walkthrough_step("signin_token", factors=["knowledge:idp_password"])  # the code proves the password was typed
@csrf.exempt
@token_request_limited
def token():
    return oidc_server().create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
@walkthrough_step("signin_userinfo")
@csrf.exempt
def userinfo():
    """The claims of the token's user, limited to the token's scopes."""
    try:
        token = require_user_token.acquire_token(["openid"])
    except OAuth2Error as error:
        require_user_token.raise_error_response(error)
    return jsonify(user_info(db.session.get(User, token.user_id), token.scope))


@bp.get("/jwks")
@walkthrough_step("signin_discovery")
def jwks():
    return jsonify(public_jwks(current_app.extensions["idp_signing_key"]))


@bp.get("/.well-known/openid-configuration")
@walkthrough_step("signin_discovery")
def openid_configuration():
    return jsonify(discovery_document())
