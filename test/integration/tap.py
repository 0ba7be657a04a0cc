"""The few lines every python integration suite shares: TAP-style checks and their totals."""

passed = 0
failed = 0


def check(name, condition, detail=""):
    """Prints "ok N - name" or "not ok N - name" (with the detail); counts it."""
    global passed, failed
    if condition:
        passed += 1
        print(f"ok {passed + failed} - {name}")
    else:
        failed += 1
        print(f"not ok {passed + failed} - {name}")
        if detail:
            print(f"#   {detail}")


def finish(suite):
    """Prints the suite's totals; returns the process exit code."""
    print(f"{suite}: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1
