// What the backup job set decides (issue 12), in plain C++ that takes the time as an argument:
// when a backup, a restore test or a drill is due, which backups retention removes, whether a
// restore's row counts are what the backup held, and what of a configuration file may travel
// with a backup.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "worker/config.hpp"

namespace date {
class time_zone;
}

namespace expense_ops::worker::backup {

using WallClock = std::chrono::system_clock;
using WallTime = WallClock::time_point;

// The daily backup's local time of day, "HH:MM" (backup-time). Throws ConfigError.
struct TimeOfDay {
  int hour = 2;
  int minute = 0;
};
TimeOfDay parse_time_of_day(const std::string& text);

// The newest instant at or before `now` that is `at` local time in `zone`. On the day a clock
// change skips that time, the slot is the end of the gap (as cron runs it); on the day it
// repeats, the first of the two.
WallTime latest_daily_slot(WallTime now, TimeOfDay at, const date::time_zone& zone);

// The last attempt of one kind of work, as the database recorded it.
struct LastAttempt {
  WallTime started;
  bool failed = false;
};

// Whether the scheduled backup is due: when no backup that succeeded (`last_success`: when it
// started) started at or after the latest slot, and at once when there is no usable backup at
// all (a new installation, or every backup failed or expired). After a failed attempt
// (`last_attempt`, the newest of any outcome), not before `retry_delay` has passed.
bool backup_due(WallTime now, WallTime latest_slot, const std::optional<LastAttempt>& last_attempt,
                const std::optional<WallTime>& last_success, bool usable_backup_exists,
                Seconds retry_delay);

// Whether a scheduled restore test (or drill) is due: `every` after the last one started,
// whatever its outcome (a failure alerts; a new test on demand is a request away), and only when
// a verified backup exists to restore.
bool restore_test_due(WallTime now, const std::optional<WallTime>& last_started, Seconds every,
                      bool verified_backup_exists);

// A backup as retention sees it.
struct RetainedBackup {
  std::int64_t id = 0;
  std::string kind;  // full or diff
  bool verified = false;
  WallTime restorable_at;
  std::optional<std::int64_t> depends_on;  // a diff's full backup
};

// The backups retention removes: those whose restorable point is older than `keep_for`, except
// that the newest verified backup always stays, so does anything a staying backup depends on,
// and the only backup is never removed. In the order given.
std::vector<std::int64_t> backups_to_expire(const std::vector<RetainedBackup>& backups,
                                            WallTime now, Seconds keep_for);

// A restore's count of a key table against the range the backup held it in.
struct RowCountVerdict {
  std::string table;
  std::optional<std::int64_t> restored;  // nullopt: the restore has no such count
  std::int64_t low = 0;
  std::int64_t high = 0;
  bool passed() const { return restored && *restored >= low && *restored <= high; }
};
std::vector<RowCountVerdict> row_count_verdicts(const std::map<std::string, std::int64_t>& restored,
                                                const std::map<std::string, std::int64_t>& low,
                                                const std::map<std::string, std::int64_t>& high);

// A configuration file's text with its secrets replaced by "<redacted>": the value of every
// setting whose name says it holds a secret (password, passphrase, secret, token, or a key that
// is not a file), and a password inside a connection string. Comments and layout stay, so the
// copy still reads as the file.
std::string without_secrets(const std::string& configuration_text);

}  // namespace expense_ops::worker::backup
