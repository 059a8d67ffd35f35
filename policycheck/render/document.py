"""A document a view writes: its file name and how its text is written into a file the
caller opens. A view never opens a file itself: one that must hold text aside while it
writes (report.html renders each control's results as it reads them, once, and writes
them control by control) takes each such file from the caller's spool."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Generic, TextIO, TypeVar

#: A new, empty text file, read and written, for text a view holds aside until it writes
#: it out; the caller decides where it lives (on disk for a report set, however large).
Spool = Callable[[], IO[str]]
#: One document of a set, ready to write: into ``out``, holding text aside in ``spool``.
Writing = Callable[[TextIO, Spool], None]

Subject = TypeVar("Subject")


def in_memory() -> IO[str]:
    """A spool file in memory (a view rendered whole, as text, is in memory anyway).
    Line ends are read back as from a file on disk."""
    return io.StringIO(newline=None)


@dataclass(frozen=True)
class Document(Generic[Subject]):
    """One file a view writes of its subject (a report, a history)."""

    filename: str
    #: Writes the file as it renders it: the views whose size grows with the results
    #: read them one at a time (report.md and summary.md have a size limit).
    write: Callable[[Subject, TextIO, Spool], None]

    def render(self, subject: Subject) -> str:
        """The whole file as text."""
        buffer = io.StringIO()
        self.write(subject, buffer, in_memory)
        return buffer.getvalue()

    def of(self, subject: Subject) -> Writing:
        """This document of ``subject``, for the caller to write where it decides."""

        def writing(out: TextIO, spool: Spool) -> None:
            self.write(subject, out, spool)

        return writing


def whole(render: Callable[[Subject], str]) -> Callable[[Subject, TextIO, Spool], None]:
    """The writer of a view rendered whole (small, or cut to a size limit)."""

    def write(subject: Subject, out: TextIO, spool: Spool) -> None:
        out.write(render(subject))

    return write


def direct(write: Callable[[Subject, TextIO], None]) -> Callable[[Subject, TextIO, Spool], None]:
    """The writer of a view that writes as it reads, holding nothing aside."""

    def writer(subject: Subject, out: TextIO, spool: Spool) -> None:
        write(subject, out)

    return writer
