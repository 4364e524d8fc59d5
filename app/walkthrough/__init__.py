"""The walkthrough: every message of a checkout journey, recorded through the common tracing hook."""
from flask import Blueprint

from ..common.errors import serve_json_errors_under
from ..common.sessions import serve_sessions_under

bp = Blueprint("walkthrough", __name__, url_prefix="/walkthrough", template_folder="templates",
               static_folder="static", static_url_path="/static")


def init_walkthrough(app):
    from ..common import tracing
    from . import routes  # noqa: F401  (routes register on bp)
    from .events import WalkthroughNamespace
    from .recorder import RecordQueue

    from .instructor import bp as instructor_bp

    app.register_blueprint(bp)
    app.register_blueprint(instructor_bp)
    serve_sessions_under(app, "/walkthrough", "walkthrough")
    serve_sessions_under(app, "/instructor", "walkthrough")  # its pages look like the walkthrough's
    serve_json_errors_under(app, "/walkthrough/api/", "/instructor/api/")
    app.extensions["socketio"].on_namespace(WalkthroughNamespace("/walkthrough"))
    # The app keeps the queue alive; the signal holds it weakly, for this app's messages only.
    recorder = app.extensions["walkthrough_recorder"] = RecordQueue(app)
    tracing.message_crossed.connect(recorder.take, sender=app)
