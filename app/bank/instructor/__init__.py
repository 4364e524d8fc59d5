"""What the bank shows a class's instructor, as JSON at /bank/instructor/api/: how far the class got
on the bank's side (phones registered, pushes delivered, approvals), its outboxes' backlog, and a
stuck learner's phone as the bank sees it. The instructor's page (app/walkthrough/instructor.py)
asks for it over HTTP, as any other server would; the instructor's password is the proof.
"""
from flask import Blueprint

bp = Blueprint("instructor", __name__, url_prefix="/instructor/api")

from . import routes  # noqa: E402,F401  (the views register on bp)
