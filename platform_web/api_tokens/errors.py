"""Domain errors of API tokens, with messages a client can act on (the API view turns them into JSON)."""


class TokenError(Exception):
    """Base of the API token errors."""


class InvalidToken(TokenError):
    """No `Authorization: Bearer` header, or a token that is wrong or revoked (HTTP 401)."""


class TooManyRequests(TokenError):
    """The token used up its requests for this minute; `retry_after` is the wait in whole seconds (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenLimitReached(TokenError):
    """The user already has as many tokens as one account may hold."""
