"""What the bank's domain refuses, each kind with the HTTP answer an API gives it (see DomainError)."""
from ..common.errors import DomainError


class BankError(DomainError):
    code = "bank_error"
    factor = None  # the factor a refusal is about (`kind:what`, as the walkthrough names them), if any


class InvalidField(BankError):
    status, code = 422, "invalid_field"


class NotFound(BankError):
    status, code = 404, "not_found"


class Conflict(BankError):
    status, code = 409, "conflict"
