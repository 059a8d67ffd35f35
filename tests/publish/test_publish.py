"""A report set is published whole: symlink traps, kill -9, Ctrl-C, two writers at once,
and output directories that cannot be used."""

import errno
import hashlib
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from policycheck.errors import InputError
from policycheck.publish import CHECKSUMS, check_output_dir, exchange, fallback, publish_set
from policycheck.publish import staging as publish

MANAGED = ["report.json", "report.md", "report.csv"]
SWAP_STEPS = [
    "staging created",
    "wrote report.json",
    "wrote report.md",
    "staged",
    "locked",
    "linked",
    "exchanged",
    "drained",
]
IN_PLACE_STEPS = [
    "locked",
    "in place: SHA256SUMS removed",
    "in place: wrote a temporary report.json",
    "in place: replaced report.json",
    "in place: replaced report.md",
    "in place: replaced SHA256SUMS",
]
LARGE = 3_000_000  # characters of padding in report.json and in report.md


def _make_set(tag: str, size: int = 0, csv: bool = False) -> dict[str, str]:
    """A report set whose files each name ``tag``; report.csv only when asked."""
    files = {
        "report.json": json.dumps({"set": tag, "padding": "j" * size}) + "\n",
        "report.md": f"# set {tag}\n\n" + "m" * size + "\n",
    }
    if csv:
        files["report.csv"] = f"set\n{tag}\n"
    return files


def _publish(out: Path, tag: str, size: int = 0, csv: bool = False) -> list[Path]:
    return publish_set(out, _make_set(tag, size, csv), managed=MANAGED)


def _tag(out: Path) -> str:
    """The set in ``out``: report.json and report.md must belong to the same one."""
    tag = json.loads((out / "report.json").read_text())["set"]
    assert (out / "report.md").read_text().startswith(f"# set {tag}\n"), "a mixed set"
    return tag


def _sha256sum(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sha256sum", "--check", "--strict", CHECKSUMS], cwd=out, capture_output=True, text=True
    )


def _assert_whole(out: Path) -> str:
    """``out`` holds one complete set, exactly what SHA256SUMS lists: its tag."""
    checked = _sha256sum(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = {line.split("  ", 1)[1] for line in (out / CHECKSUMS).read_text().splitlines()}
    present = {p.name for p in out.iterdir() if p.name in MANAGED}
    assert present == listed, f"files of another set: {present - listed}"
    return _tag(out)


def _temporaries(out: Path) -> list[str]:
    """Staging directories beside ``out`` and temporary files in it."""
    beside = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    inside = [p.name for p in out.iterdir() if p.name.endswith((".policycheck", ".tmp"))]
    return sorted(beside + inside)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output directory with set A (csv included) beside the user's own entries: the
    committed README.md, a report directory of another run, a symlink."""
    out = tmp_path / "reports"
    out.mkdir()
    (out / "README.md").write_text("committed\n")
    (out / "dev").mkdir()
    (out / "dev" / "report.json").write_text("another run\n")
    (out / "latest").symlink_to("dev/report.json")
    _publish(out, "A", csv=True)
    assert _assert_whole(out) == "A"
    return out


def _assert_foreign_kept(out: Path) -> None:
    assert (out / "README.md").read_text() == "committed\n"
    assert (out / "dev" / "report.json").read_text() == "another run\n"
    assert os.readlink(out / "latest") == "dev/report.json"


@pytest.fixture
def in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where renameat2 is missing (not Linux, old glibc)."""
    monkeypatch.setattr(exchange, "_renameat2", None)


def _hook_once(monkeypatch: pytest.MonkeyPatch, step: str, action: Callable[[], None]) -> None:
    done = []

    def hook(name: str) -> None:
        if name == step and not done:
            done.append(name)
            action()

    monkeypatch.setattr(publish, "_step_hook", hook)


# ---------------------------------------------------------------------------------------
# The swap


def test_a_new_set_replaces_the_whole_old_one(out: Path) -> None:
    readme = (out / "README.md").stat().st_ino
    latest = (out / "latest").lstat().st_ino
    os.chmod(out, 0o750)
    before = out.stat().st_ino
    written = _publish(out, "B")
    assert written == [out / "report.json", out / "report.md", out / CHECKSUMS]
    assert _assert_whole(out) == "B"
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        CHECKSUMS,
        "dev",
        "latest",
        "report.json",
        "report.md",
    ]  # report.csv of set A is gone
    _assert_foreign_kept(out)
    assert (out / "README.md").stat().st_ino == readme  # the same file, not a copy
    assert (out / "latest").lstat().st_ino == latest  # the same symlink
    assert out.stat().st_ino != before  # swapped, not rewritten
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert _temporaries(out) == []


def test_sha256sums_lists_the_files_in_order(tmp_path: Path) -> None:
    files = {"report.md": "md\n", "report.json": b"{}\n"}
    publish_set(tmp_path / "out", files)
    md, js = (hashlib.sha256(data).hexdigest() for data in (b"md\n", b"{}\n"))
    assert (tmp_path / "out" / CHECKSUMS).read_text() == f"{md}  report.md\n{js}  report.json\n"


def test_a_new_directory_and_its_parents_are_created_with_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "a" / "b" / "reports"
        _publish(out, "A")
    finally:
        os.umask(old)
    assert _assert_whole(out) == "A"
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "report.json").stat().st_mode) == 0o640
    assert _temporaries(out) == []


def test_a_symlinked_output_dir_is_followed_and_kept(out: Path) -> None:
    link = out.parent / "link"
    link.symlink_to(out.name)
    assert _publish(link, "B")[0] == link / "report.json"
    assert link.is_symlink() and os.readlink(link) == out.name
    assert _assert_whole(out) == "B"
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


def test_the_current_directory_is_rewritten_in_place(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(out / "dev")
    before = out.stat().st_ino
    _publish(out, "B")
    assert out.stat().st_ino == before  # not swapped away from under this process
    assert _assert_whole(out) == "B"
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


def test_a_filesystem_without_exchange_falls_back_in_place(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = exchange._rename2

    def no_exchange(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
        if flags == exchange.RENAME_EXCHANGE:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real(src_fd, src, dst_fd, dst, flags)

    monkeypatch.setattr(exchange, "_rename2", no_exchange)
    before = out.stat().st_ino
    _publish(out, "B")
    assert out.stat().st_ino == before
    assert _assert_whole(out) == "B"
    assert not (out / "report.csv").exists()
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


@pytest.mark.parametrize("why", ["parent not writable", "mount point"])
def test_where_no_exchange_is_possible_files_are_replaced_in_place(
    out: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    if why == "parent not writable":

        def refuse(*args: object, **kwargs: object) -> str:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    else:
        monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == out)
    before = out.stat().st_ino
    _publish(out, "B")
    assert out.stat().st_ino == before
    assert _assert_whole(out) == "B"
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


@pytest.mark.usefixtures("in_place")
def test_in_place_replaces_the_set_too(out: Path) -> None:
    before = out.stat().st_ino
    _publish(out, "B")
    assert out.stat().st_ino == before
    assert _assert_whole(out) == "B"
    assert not (out / "report.csv").exists()
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


def test_a_directory_in_place_of_a_report_file_is_refused(out: Path) -> None:
    (out / "report.csv").unlink()
    (out / "report.csv").mkdir()
    with pytest.raises(InputError, match=r"report\.csv: is a directory"):
        _publish(out, "B", csv=True)
    assert _tag(out) == "A"
    assert _temporaries(out) == []


def test_the_root_directory_and_odd_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="root directory"):
        publish_set(Path("/"), _make_set("A"))
    for name in ("../x", "a/b", CHECKSUMS, "", "..", ".report.json.tmp", "a\nb"):
        with pytest.raises(ValueError, match="not a report file name"):
            publish_set(tmp_path / "out", {name: "x"})
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------
# Symlink traps


def test_symlinks_planted_at_temporary_names_are_not_written_through(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = out.parent / "victim.txt"
    victim.write_text("precious\n")
    victim_dir = out.parent / "victim"
    victim_dir.mkdir()
    traps = [
        out / ".report.json.tmp",  # the names the previous writer used
        out / ".SHA256SUMS.tmp",
        out.parent / f".{out.name}.tmp",
        out.parent / f".{out.name}.trapfile{publish.STAGING_SUFFIX}",
        out.parent / f".{out.name}.trapdir0{publish.STAGING_SUFFIX}",
    ]
    for trap in traps:
        trap.symlink_to(victim_dir if "trapdir" in trap.name else victim)
    # mkdtemp's first two candidate names are the planted ones.
    names = itertools.chain(["trapfile", "trapdir0"], tempfile._get_candidate_names())
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    _publish(out, "B")
    assert victim.read_text() == "precious\n" and not victim.is_symlink()
    assert list(victim_dir.iterdir()) == []
    assert _assert_whole(out) == "B"
    assert all(trap.is_symlink() for trap in traps[2:])  # not ours: left alone
    assert not traps[0].is_symlink() and not traps[1].is_symlink()  # debris of a set: gone


@pytest.mark.usefixtures("in_place")
def test_in_place_temporary_files_are_created_exclusively(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = out.parent / "victim.txt"
    victim.write_text("precious\n")
    tokens = iter(["0123456789ab", "0123456789ab", "ba9876543210"])
    monkeypatch.setattr(fallback, "_random_token", lambda: next(tokens, os.urandom(6).hex()))
    trap = out / f".report.json.0123456789ab{publish.STAGING_SUFFIX}"
    # Planted after the sweep of old temporary files, just before the first is made.
    _hook_once(monkeypatch, "in place: SHA256SUMS removed", lambda: trap.symlink_to(victim))
    _publish(out, "B")
    assert victim.read_text() == "precious\n"
    assert trap.is_symlink()
    assert _assert_whole(out) == "B"


# ---------------------------------------------------------------------------------------
# Interruption


@pytest.mark.parametrize("step", SWAP_STEPS)
def test_ctrl_c_leaves_one_whole_set_and_no_temporaries(
    out: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    _hook_once(monkeypatch, step, interrupt)
    with pytest.raises(KeyboardInterrupt):
        _publish(out, "B")
    committed = SWAP_STEPS.index(step) >= SWAP_STEPS.index("exchanged")
    assert _assert_whole(out) == ("B" if committed else "A")
    assert (out / "report.csv").exists() != committed
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


class Stop(BaseException):
    """What a program's own signal handler might raise."""


@pytest.fixture
def stop_on_sigusr1() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Stop

    previous = signal.signal(signal.SIGUSR1, handler)
    yield
    signal.signal(signal.SIGUSR1, previous)


@pytest.mark.usefixtures("stop_on_sigusr1")
@pytest.mark.parametrize(("step", "tag"), [("staged", "A"), ("linked", "A"), ("exchanged", "B")])
def test_a_signal_handler_raising_is_held_from_the_exchange_to_the_end(
    out: Path, monkeypatch: pytest.MonkeyPatch, step: str, tag: str
) -> None:
    _hook_once(monkeypatch, step, lambda: os.kill(os.getpid(), signal.SIGUSR1))
    with pytest.raises(Stop):
        _publish(out, "B")
    assert _assert_whole(out) == tag
    _assert_foreign_kept(out)
    assert _temporaries(out) == []
    assert signal.getsignal(signal.SIGUSR1).__name__ == "handler"  # restored


@pytest.mark.usefixtures("in_place")
@pytest.mark.parametrize("step", IN_PLACE_STEPS)
def test_ctrl_c_in_place_leaves_no_temporaries_and_no_false_checksums(
    out: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    _hook_once(monkeypatch, step, interrupt)
    with pytest.raises(KeyboardInterrupt):
        _publish(out, "B")
    if (out / CHECKSUMS).exists():
        assert _assert_whole(out) == ("B" if step.endswith(CHECKSUMS) else "A")
    else:
        assert _sha256sum(out).returncode != 0  # the torn set does not pass
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


# ---------------------------------------------------------------------------------------
# kill -9

CHILD = """
import json, os, signal, sys
from pathlib import Path

args = json.loads(sys.argv[1])
sys.path.insert(0, args["tests"])
from test_publish import MANAGED, _make_set
from policycheck.publish import exchange, publish_set
from policycheck.publish import staging as publish

if args["in_place"]:
    exchange._renameat2 = None

def hook(step):
    if args["report_steps"]:
        print(step, flush=True)
    if step == args["kill_at"]:
        os.kill(os.getpid(), getattr(signal, args["signal"]))

publish._step_hook = hook
for i in range(args["count"]):
    files = _make_set(f"{args['tag']}{i}", args["size"])
    publish_set(Path(args["out"]), files, managed=MANAGED)
"""


def _child(out: Path, **options: object) -> list[str]:
    args = {
        "tests": str(Path(__file__).parent),
        "out": str(out),
        "in_place": False,
        "report_steps": False,
        "kill_at": None,
        "signal": "SIGKILL",
        "count": 1,
        "tag": "B",
        "size": LARGE,
        **options,
    }
    return [sys.executable, "-c", CHILD, json.dumps(args)]


def _after_a_kill(out: Path, tags: set[str]) -> None:
    """A kill -9 left one whole set (or, in place, none vouched for); then the next
    publish removes what the killed run left and puts back the user's entries."""
    if (out / CHECKSUMS).exists():
        assert _assert_whole(out) in tags
    else:
        assert _sha256sum(out).returncode != 0
    _publish(out, "C")
    assert _assert_whole(out) == "C"
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


@pytest.mark.parametrize("step", SWAP_STEPS)
def test_kill_9_at_each_step_leaves_one_whole_set(out: Path, step: str) -> None:
    result = subprocess.run(_child(out, kill_at=step), capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    committed = SWAP_STEPS.index(step) >= SWAP_STEPS.index("exchanged")
    assert _assert_whole(out) == ("B0" if committed else "A")
    # What a kill -9 leaves: its staging directory (with the old set, once exchanged).
    [staging] = _temporaries(out)
    assert staging.startswith(f".{out.name}.") and staging.endswith(publish.STAGING_SUFFIX)
    if step == "exchanged":  # killed before the user's directory was renamed back
        assert not (out / "dev").exists()
        assert (out.parent / staging / "set" / "dev" / "report.json").exists()
    _after_a_kill(out, {"A", "B0"})


@pytest.mark.parametrize("step", IN_PLACE_STEPS)
def test_kill_9_in_place_never_leaves_false_checksums(out: Path, step: str) -> None:
    result = subprocess.run(
        _child(out, kill_at=step, in_place=True), capture_output=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    if step == "in place: wrote a temporary report.json":
        assert len(_temporaries(out)) == 1
    _after_a_kill(out, {"A", "B0"})


@pytest.mark.parametrize("in_place", [False, True], ids=["swap", "in-place"])
def test_kill_9_at_varied_points_while_publishing_in_a_loop(out: Path, in_place: bool) -> None:
    """The child reports each step on a pipe and is killed as soon as the parent has read
    the n-th: the kill lands somewhere after it, wherever the child has got to."""
    for n in range(3, 60, 11):
        child = subprocess.Popen(
            _child(out, in_place=in_place, report_steps=True, count=1000, tag=f"L{n}-"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            for _ in range(n):
                assert child.stdout.readline(), "the child ended early"
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        if (out / CHECKSUMS).exists():
            tag = _assert_whole(out)
            assert tag in ("A", "C") or tag.startswith(f"L{n}-")
        else:
            assert in_place
        _after_a_kill(out, {"A", "C"} | {f"L{n}-{i}" for i in range(100)})


def test_sigterm_during_the_exchange_is_delivered_after_it(out: Path) -> None:
    """Default SIGTERM (the process ends) is held like Ctrl-C: the swap completes, then
    the process ends, the user's entries back in place."""
    result = subprocess.run(
        _child(out, kill_at="exchanged", signal="SIGTERM"), capture_output=True, timeout=60
    )
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert _assert_whole(out) == "B0"
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


# ---------------------------------------------------------------------------------------
# Staging directories left by killed runs


def _stale(out: Path, name: str = "deadbeef") -> Path:
    """A staging directory as a run killed after its exchange leaves it: the old set
    and a directory of the user's."""
    staging = out.parent / f".{out.name}.{name}{publish.STAGING_SUFFIX}"
    (staging / "set" / "prod").mkdir(parents=True)
    (staging / "set" / "prod" / "report.json").write_text("prod\n")
    (staging / "set" / "report.json").write_text("old\n")
    os.link(out / "README.md", staging / "set" / "README.md")
    return staging


def test_a_stale_staging_dir_is_emptied_back_and_removed(out: Path) -> None:
    _stale(out)
    _publish(out, "B")
    assert (out / "prod" / "report.json").read_text() == "prod\n"
    assert _assert_whole(out) == "B"
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


def test_a_staging_dir_whose_run_holds_its_lock_is_left_alone(out: Path) -> None:
    import fcntl

    staging = _stale(out)
    fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _publish(out, "B")
        assert (staging / "set" / "prod").exists()
        assert not (out / "prod").exists()
    finally:
        os.close(fd)
    _publish(out, "C")
    assert (out / "prod" / "report.json").read_text() == "prod\n"
    assert _temporaries(out) == []


def test_without_locks_only_old_staging_dirs_are_removed(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange, "try_lock", lambda fd: None)  # as on NFS
    staging = _stale(out)
    _publish(out, "B")
    assert staging.exists()  # it might be a live run's
    hour_ago = staging.stat().st_mtime - 3600
    os.utime(staging, (hour_ago, hour_ago))
    _publish(out, "C")
    assert not staging.exists()
    assert (out / "prod" / "report.json").read_text() == "prod\n"


# ---------------------------------------------------------------------------------------
# Two writers at once


def _snapshot(out: Path) -> str | None:
    """The set seen through a directory handle: whole, or None if it was retired (its
    files removed) while being read. A mix fails."""
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)

    def read(name: str) -> bytes:
        with open(name, "rb", opener=lambda path, flags: os.open(path, flags, dir_fd=fd)) as f:
            return f.read()

    try:
        for line in read(CHECKSUMS).decode().splitlines():
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(read(name)).hexdigest() == digest, f"{name}: torn"
        tag = json.loads(read("report.json"))["set"]
        assert read("report.md").startswith(f"# set {tag}\n".encode()), "a mixed set"
        return tag
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)


@pytest.mark.parametrize("in_place", [False, True], ids=["swap", "in-place"])
def test_two_threads_publishing_at_once(
    out: Path, monkeypatch: pytest.MonkeyPatch, in_place: bool
) -> None:
    if in_place:
        monkeypatch.setattr(exchange, "_renameat2", None)
    errors: list[BaseException] = []
    seen: set[str] = set()
    writing = threading.Event()
    writing.set()

    def writer(prefix: str, csv: bool) -> None:
        try:
            for i in range(15):
                _publish(out, f"{prefix}{i}", size=20_000, csv=csv)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        while writing.is_set():
            try:
                if not in_place and (tag := _snapshot(out)):
                    seen.add(tag)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=writer, args=args) for args in (("a", True), ("b", False))]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    writing.clear()
    watcher.join()
    assert not errors, errors
    tag = _assert_whole(out)
    assert tag in ("a14", "b14")  # the last writer wins
    assert (out / "report.csv").exists() == tag.startswith("a")
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


def test_two_processes_publishing_at_once(out: Path) -> None:
    children = [
        subprocess.Popen(_child(out, count=15, tag=tag, size=200_000), stderr=subprocess.PIPE)
        for tag in ("p", "q")
    ]
    for child in children:
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr.decode()
    assert _assert_whole(out) in ("p14", "q14")
    assert not (out / "report.csv").exists()
    _assert_foreign_kept(out)
    assert _temporaries(out) == []


def test_publishing_into_a_subdirectory_while_its_parent_is_swapped(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reports/dev is staged; reports is swapped meanwhile (dev and dev's staging
    directory renamed back into the new reports); reports/dev then follows its parent."""
    _hook_once(monkeypatch, "staged", lambda: _publish(out, "B"))
    _publish(out / "dev", "D")
    assert _assert_whole(out) == "B"
    assert _assert_whole(out / "dev") == "D"
    assert (out / "README.md").read_text() == "committed\n"
    assert _temporaries(out) == [] and _temporaries(out / "dev") == []


# ---------------------------------------------------------------------------------------
# check_output_dir


def test_check_output_dir_accepts_usable_dirs_and_creates_nothing(tmp_path: Path) -> None:
    check_output_dir(tmp_path)
    check_output_dir(tmp_path / "new" / "deeper")
    (tmp_path / "link").symlink_to("elsewhere/reports")  # dangling: its target is made
    check_output_dir(tmp_path / "link")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_check_output_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(InputError) as raised:
        check_output_dir(tmp_path / "report.json")
    assert str(raised.value) == (
        f"output directory {tmp_path / 'report.json'}: exists and is not a directory"
    )


def test_check_output_dir_refuses_a_dir_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError) as raised:
        check_output_dir(tmp_path / "file" / "sub" / "reports")
    assert str(raised.value) == (
        f"output directory {tmp_path / 'file' / 'sub' / 'reports'}: cannot be created: "
        f"Not a directory ({tmp_path / 'file'})"
    )


def test_check_output_dir_refuses_the_root_directory() -> None:
    with pytest.raises(InputError, match="output directory /: is the root directory"):
        check_output_dir(Path("/"))


def test_check_output_dir_refuses_unwritable_dirs(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a mode 0500 directory is writable")
        with pytest.raises(InputError, match=r"locked: not writable \(Permission denied\)"):
            check_output_dir(locked)
        with pytest.raises(
            InputError, match=r"locked/reports: cannot be created: Permission denied \("
        ):
            check_output_dir(locked / "reports")
    finally:
        locked.chmod(0o700)


def test_check_output_dir_reports_why_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an unwritable directory looks like to a user who is not root."""
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(InputError, match=r": not writable \(Permission denied\)$"):
        check_output_dir(tmp_path)
    with pytest.raises(InputError, match=r"new: cannot be created: Permission denied \("):
        check_output_dir(tmp_path / "new")


# ---------------------------------------------------------------------------------------
# A signal during a command's publication: what it says matches what is on disk


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """A saved report to render, and an output directory holding an older set; the
    command's signal handlers are put back afterwards."""
    from policycheck.publish import write_reports
    from support.checks import make_report, make_result

    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    monkeypatch.setattr(publish, "published", [])
    saved, out = tmp_path / "saved", tmp_path / "out"
    write_reports(make_report(make_result(status="pass")), out, ["json", "markdown"])
    write_reports(make_report(make_result(status="fail")), saved, ["json"])
    monkeypatch.setattr(publish, "published", [])
    yield saved / "report.json", out
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize(
    ("in_place", "step"),
    [(False, step) for step in SWAP_STEPS]
    + [(True, step) for step in [*IN_PLACE_STEPS, "in place: wrote a temporary SHA256SUMS"]],
)
def test_a_signal_during_publication_says_whether_the_new_set_was_published(
    rendered: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    in_place: bool,
    step: str,
) -> None:
    """Within 10 ms of the staging directory appearing, 6 of 12 signals said "no new
    report written" although the new set had been published."""
    from policycheck import cli

    saved, out = rendered
    if in_place:
        monkeypatch.setattr(exchange, "_renameat2", None)
    _hook_once(monkeypatch, step, lambda: os.kill(os.getpid(), signal.SIGTERM))
    code = cli.main(["render", str(saved), "--output-dir", str(out)])  # json and markdown
    stderr = capsys.readouterr().err
    new = (out / "report.json").read_bytes() == saved.read_bytes()
    if (out / CHECKSUMS).exists():
        assert _sha256sum(out).returncode == 0
    if new and (out / CHECKSUMS).exists():
        assert code == 0, stderr
        assert f"interrupted (SIGTERM) after the new report set was published in {out}" in stderr
    else:
        assert code == 128 + signal.SIGTERM, stderr
        assert "interrupted (SIGTERM); no new report written" in stderr
    published_from = SWAP_STEPS.index("exchanged") if not in_place else None
    if published_from is not None:
        assert new == (SWAP_STEPS.index(step) >= published_from)
