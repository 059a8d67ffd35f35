"""Errors that end a command before anything is checked (exit code 2), how AWS's errors
are read, and the exit codes."""

#: 0 passed, 1 a gating result failed, 2 bad input (nothing checked), 3 an error or
#: something not assessed, 70 an internal error (EX_SOFTWARE).
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3, 70


class InputError(Exception):
    """Bad input: unreadable or invalid file, unknown id, wrong type, unusable setup.

    The message names the file and key, one problem a line; the CLI prints it alone (see
    shown_problems), without a traceback.
    """


#: Problems of bad input printed; the rest are counted.
MAX_PROBLEMS_SHOWN = 50


def shown_problems(message: str) -> str:
    """The first MAX_PROBLEMS_SHOWN lines of an InputError's message and the count of the
    rest (a broken 769 KB policy printed 190,000 lines)."""
    lines = message.split("\n", MAX_PROBLEMS_SHOWN)
    if len(lines) <= MAX_PROBLEMS_SHOWN:
        return message
    rest = lines.pop().count("\n") + 1
    return "\n".join([*lines, f"... and {rest:,} more problem{'s' if rest > 1 else ''}"])


#: An error's code and message are quoted up to this many characters.
MAX_ERROR_CHARS = 2000


def aws_error(exc: Exception) -> tuple[str, str]:
    """The AWS error code and message of a botocore ClientError; the HTTP status stands in
    for a code the answer lacks (an S3 HEAD has no body)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    code = error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return storable_text(str(code or "Unknown")), storable_text(str(error.get("Message") or exc))


def storable_text(text: str) -> str:
    """Text from outside (an error message) as a report can hold it: what UTF-8 cannot
    encode (a lone surrogate) escaped, at most MAX_ERROR_CHARS characters."""
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
