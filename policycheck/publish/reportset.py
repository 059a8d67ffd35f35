"""Publishing a report set: a reader sees the old set or the new one, never a mix.

A *report set* is the files one run writes into its output directory plus ``SHA256SUMS``
over them; the set is exactly what ``SHA256SUMS`` lists. :func:`publish_set` makes a set
visible as a whole, on Linux by exchanging directories:

1. Every file is written and fsynced into ``.<name>.<random>.policycheck/set``, a staging
   directory beside the output directory ``<name>`` (``tempfile.mkdtemp``: an
   unpredictable name, mode 0700, so nobody can plant a symlink in it; the files are
   created with ``O_EXCL | O_NOFOLLOW``).
2. Under an exclusive ``flock`` on the parent directory (no lock file is left), each
   entry of the current output directory that is not part of a report set — the
   committed ``README.md``, notes, symlinks — is hard-linked into the staging directory.
   Files of the old set are not: an old ``report.csv`` does not outlive the
   ``SHA256SUMS`` that listed it. The staging directory takes the output directory's mode
   and owner.
3. ``renameat2(RENAME_EXCHANGE)`` swaps the two directories in one step (a plain rename
   when there was no output directory yet). Whoever opens the output directory, or
   ``cd``\\s into it, gets one whole set; a reader that opens files by path one after the
   other can still straddle a swap, and a reader still inside the old directory finds
   its files gone once step 4 removes them.
4. Subdirectories of the old output directory (``reports/dev`` from another run), and
   anything that could not be hard-linked, are renamed back into the new one — they are
   missing for the microseconds between the exchange and that rename. The old set is
   removed with the staging directory.

Signals that would raise in the main thread (Ctrl-C, a SIGTERM handler) are held from the
exchange to the end of step 4 and delivered afterwards. Anything raised before the
exchange removes the staging directory, leaving the old set as it was. A kill -9 leaves
the staging directory behind; the next publish into the same directory sees that no live
process holds its lock, puts back anything of the user's in it and removes it.

Two runs publishing into one directory stage separately and take turns for steps 2 to 4:
the last one wins. The swap changes the output directory's inode, so a shell ``cd``'d into
it, or a bind mount of it, keeps seeing the old, removed directory.

Where no exchange is possible — not Linux or glibc < 2.28, a filesystem without
RENAME_EXCHANGE, an output directory that is a mount point, whose parent is not writable,
or that holds the current or the home directory — the files are replaced in place, under
the same lock: ``SHA256SUMS`` is removed first, each file is written under an
unpredictable name and renamed over its own, ``SHA256SUMS`` is written last. A reader may
then see old and new files side by side, and an interrupted run leaves a mix, but without
``SHA256SUMS``, so ``sha256sum -c`` reports the set as incomplete instead of vouching for
it.

Here: the steps in order, and a set's documents rendered into scratch files first
(:func:`write_reports`). The set itself, and what every way shares: staging.py; steps 1
to 4: exchange.py; the in-place fallback: fallback.py; the lock and the signals held:
lock.py.
"""

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from policycheck.publish.exchange import publish_by_exchange
from policycheck.publish.fallback import publish_in_place
from policycheck.publish.staging import check_output_dir, set_contents, staged
from policycheck.render import MANAGED, render_reports
from policycheck.render.document import Writing
from policycheck.report.model import Report


def publish_set(
    output_dir: Path, files: Mapping[str, str | bytes | Path], *, managed: Iterable[str] = ()
) -> list[Path]:
    """Publish ``files`` (name: content; a ``str`` is written as UTF-8, a ``Path`` is a
    file whose content is copied, a large report rendered to disk) and SHA256SUMS over
    them into ``output_dir`` as one set, replacing the set there; the paths written, in
    order, SHA256SUMS last.

    ``managed`` names the files a report set can have besides ``files``: such a file left
    by an older set is removed. Every other entry of the output directory is kept.
    ``output_dir`` and missing parents are created; a symlink to a directory is followed
    (the directory it points to is replaced; the symlink stays). Raises InputError for an
    output directory that cannot be used (see :func:`check_output_dir`), ValueError for a
    file name that is not a plain name, OSError when writing fails; in every case the old
    set is left as it was and no temporary file remains."""
    contents = set_contents(files)
    check_output_dir(output_dir)
    target = Path(os.path.realpath(output_dir))
    set_names = frozenset(managed) | contents.keys()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not publish_by_exchange(target, contents, set_names):
        publish_in_place(target, contents, set_names)
    return [output_dir / name for name in contents]


def publish_documents(
    output_dir: Path, documents: Mapping[str, Writing], *, managed: Iterable[str] = ()
) -> list[Path]:
    """Write each document (file name: how it is written) into a scratch file, then
    publish them as one set (see publish_set): the paths written, SHA256SUMS last."""
    with staged(documents) as files:
        return publish_set(output_dir, files, managed=managed)


def write_reports(report: Report, output_dir: Path, formats: list[str]) -> list[Path]:
    """Render each format's files, then publish them into ``output_dir`` with SHA256SUMS
    over them (in ``sha256sum`` format, for ``sha256sum -c`` and actions/attest) as one
    set: a reader sees the old set or the new one, and files of an older set that this
    one lacks are removed; other files in ``output_dir`` are kept. The paths written,
    SHA256SUMS last."""
    return publish_documents(output_dir, render_reports(report, formats), managed=MANAGED)
