"""The integration layer's one TAP emitter; prove reads what it prints.

Every test file numbers its checks from 1 with check(), may print diag() comments between
them, and ends with finish(), which prints the plan "1..N" (a trailing plan is valid TAP).
A file that dies before finish() prints no plan, and prove reports it as failed.
"""

import sys

_count = 0
_failed = 0


def _line(text):
    # A TAP line ends at the newline, and " # " would start a directive (SKIP, TODO).
    return " ".join(str(text).split()).replace("#", "\\#")


def diag(message):
    """Prints a "# " comment line per line of the message: prove shows it, counts nothing."""
    for line in str(message).splitlines() or [""]:
        print(f"# {line}")
    sys.stdout.flush()


def check(name, condition, detail=""):
    """Prints "ok N - name" or "not ok N - name" (with the detail as comments); returns
    whether it passed."""
    global _count, _failed
    _count += 1
    if condition:
        print(f"ok {_count} - {_line(name)}")
    else:
        _failed += 1
        print(f"not ok {_count} - {_line(name)}")
        if detail:
            diag("  " + str(detail).replace("\n", "\n  "))
    sys.stdout.flush()
    return bool(condition)


def finish():
    """Prints the plan; returns the process exit code (1 when a check failed)."""
    print(f"1..{_count}")
    sys.stdout.flush()
    return 0 if _failed == 0 else 1
