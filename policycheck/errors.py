"""Errors that end a command before anything is checked (exit code 2)."""


class InputError(Exception):
    """Bad input: unreadable or invalid file, unknown id, wrong type, unusable setup.

    The message names the file and key; the CLI prints it alone, without a traceback.
    """
