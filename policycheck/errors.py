"""Errors that end a command before anything is checked (exit code 2), how AWS's errors
are read, and the exit codes."""

#: 0 passed, 1 a gating result failed, 2 bad input (nothing checked), 3 an error or
#: something not assessed, 70 an internal error (EX_SOFTWARE).
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3, 70


class InputError(Exception):
    """Bad input: unreadable or invalid file, unknown id, wrong type, unusable setup.

    The message names the file and key; the CLI prints it alone, without a traceback.
    """


def aws_error(exc: Exception) -> tuple[str, str]:
    """The AWS error code and message of a botocore ClientError; the HTTP status stands in
    for a code the answer lacks (an S3 HEAD has no body)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    code = error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(code or "Unknown"), str(error.get("Message") or exc)
