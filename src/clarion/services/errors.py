"""The service exception tree. Facades map these to their own wire errors.

ServiceError
├── NotFound          the object does not exist (or belongs to another account)
├── InvalidInput      a field is missing or malformed (``field`` names it)
├── Conflict          the current state does not allow the operation; nothing changed
│   └── TransitionConflict   a lifecycle action not allowed from the current status
└── InsufficientFunds the balance does not cover what the operation needs
"""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    pass


class InvalidInput(ServiceError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(InvalidInput):
    pass


class Conflict(ServiceError):
    pass


class TransitionConflict(Conflict):
    def __init__(self, message: str, *, action: str, current: str) -> None:
        super().__init__(message)
        self.action = action
        self.current = current


class InsufficientFunds(ServiceError):
    pass
