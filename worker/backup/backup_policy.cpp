#include "worker/backup/backup_policy.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sstream>

namespace expense_ops::worker::backup {

TimeOfDay parse_time_of_day(const std::string& text) {
  static const std::regex kForm("([01]?[0-9]|2[0-3]):([0-5][0-9])");
  std::smatch parts;
  if (!std::regex_match(text, parts, kForm)) {
    throw ConfigError("backup-time must be a local time of day HH:MM, such as 02:00");
  }
  return TimeOfDay{std::stoi(parts[1].str()), std::stoi(parts[2].str())};
}

namespace {

// `at` on the local day `day` in `zone`, resolved as latest_daily_slot() documents.
WallTime on_local_day(date::local_days day, TimeOfDay at, const date::time_zone& zone) {
  const date::local_seconds local =
      day + std::chrono::hours(at.hour) + std::chrono::minutes(at.minute);
  const date::local_info info = zone.get_info(local);
  // A local time less the offset in force is the UTC instant it names.
  const date::sys_seconds at_first_offset{local.time_since_epoch() - info.first.offset};
  // Unique, or ambiguous (the first of the two); a time the clock skips runs at the gap's end.
  return info.result == date::local_info::nonexistent ? WallTime(info.second.begin)
                                                      : WallTime(at_first_offset);
}

}  // namespace

WallTime latest_daily_slot(WallTime now, TimeOfDay at, const date::time_zone& zone) {
  const auto now_seconds = date::floor<std::chrono::seconds>(now);
  const date::local_days today = date::floor<date::days>(zone.to_local(now_seconds));
  // Today's slot, else yesterday's; the day before that covers a gap at midnight.
  for (int days_back = 0; days_back <= 2; ++days_back) {
    const WallTime slot = on_local_day(today - date::days(days_back), at, zone);
    if (slot <= now) {
      return slot;
    }
  }
  return on_local_day(today - date::days(3), at, zone);
}

bool backup_due(WallTime now, WallTime latest_slot, const std::optional<LastAttempt>& last_attempt,
                const std::optional<WallTime>& last_success, bool usable_backup_exists,
                Seconds retry_delay) {
  const bool needed = !usable_backup_exists || !last_success || *last_success < latest_slot;
  if (!needed) {
    return false;
  }
  // Each failure waits its retry delay, whether the slot or a missing backup asks again.
  return !last_attempt || !last_attempt->failed ||
         now - last_attempt->started >=
             std::chrono::duration_cast<WallClock::duration>(retry_delay);
}

bool restore_test_due(WallTime now, const std::optional<WallTime>& last_started, Seconds every,
                      bool verified_backup_exists) {
  if (!verified_backup_exists) {
    return false;
  }
  return !last_started ||
         now - *last_started >= std::chrono::duration_cast<WallClock::duration>(every);
}

std::vector<std::int64_t> backups_to_expire(const std::vector<RetainedBackup>& backups,
                                            WallTime now, Seconds keep_for) {
  if (backups.size() <= 1) {
    return {};  // the only backup stays, however old
  }
  const WallTime cutoff = now - std::chrono::duration_cast<WallClock::duration>(keep_for);
  std::set<std::int64_t> keep;
  const RetainedBackup* newest_verified = nullptr;
  for (const RetainedBackup& backup : backups) {
    if (backup.restorable_at >= cutoff) {
      keep.insert(backup.id);
    }
    if (backup.verified &&
        (newest_verified == nullptr || backup.restorable_at > newest_verified->restorable_at)) {
      newest_verified = &backup;
    }
  }
  if (newest_verified != nullptr) {
    keep.insert(newest_verified->id);
  }
  // What a kept backup depends on stays too (a differential backup restores through its full).
  for (const RetainedBackup& backup : backups) {
    if (keep.count(backup.id) != 0 && backup.depends_on) {
      keep.insert(*backup.depends_on);
    }
  }
  if (keep.empty()) {
    // Nothing verified and everything old: the newest stays, so something is left to restore.
    const auto newest =
        std::max_element(backups.begin(), backups.end(),
                         [](const RetainedBackup& left, const RetainedBackup& right) {
                           return left.restorable_at < right.restorable_at;
                         });
    keep.insert(newest->id);
    if (newest->depends_on) {
      keep.insert(*newest->depends_on);
    }
  }
  std::vector<std::int64_t> expire;
  for (const RetainedBackup& backup : backups) {
    if (keep.count(backup.id) == 0) {
      expire.push_back(backup.id);
    }
  }
  return expire;
}

std::vector<RowCountVerdict> row_count_verdicts(const std::map<std::string, std::int64_t>& restored,
                                                const std::map<std::string, std::int64_t>& low,
                                                const std::map<std::string, std::int64_t>& high) {
  std::vector<RowCountVerdict> verdicts;
  for (const auto& [table, lowest] : low) {
    RowCountVerdict verdict;
    verdict.table = table;
    verdict.low = lowest;
    const auto highest = high.find(table);
    verdict.high = highest == high.end() ? lowest : highest->second;
    if (const auto found = restored.find(table); found != restored.end()) {
      verdict.restored = found->second;
    }
    verdicts.push_back(verdict);
  }
  return verdicts;
}

namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool names_a_secret(const std::string& key) {
  // Settings that name a secret's kind or handling, not a secret: a copy without them would not
  // start a server.
  static const std::set<std::string> kNoSecret = {"password_encryption",
                                                  "ssl_passphrase_command_supports_reload"};
  const std::string name = lowercase(key);
  if (kNoSecret.count(name) != 0) {
    return false;
  }
  for (const char* word : {"password", "passphrase", "secret", "token", "credential"}) {
    if (name.find(word) != std::string::npos) {
      return true;
    }
  }
  // The name's last word (after '-', '_' or '.'), as pgBackRest's repo1-cipher-pass, the
  // repository's encryption passphrase.
  const std::string last_word = name.substr(name.find_last_of("-_.") + 1);
  if (last_word == "pass" || last_word == "passwd" || last_word == "pwd") {
    return true;
  }
  // ssl_key_file and repo1-host-key-path name files, which are no secret; a key itself is.
  const bool names_a_file = name.size() >= 4 && (name.compare(name.size() - 4, 4, "file") == 0 ||
                                                 name.compare(name.size() - 4, 4, "path") == 0);
  return name.find("key") != std::string::npos && !names_a_file;
}

}  // namespace

std::string without_secrets(const std::string& configuration_text) {
  // A setting: optional spaces, a name, then '=' or ':' or spaces, then its value.
  static const std::regex kSetting(R"(^(\s*)([A-Za-z0-9_.\-\[\]]+)(\s*[=:]\s*|\s+)(.*)$)");
  // Secrets inside any value: a connection string's password, a URL's user:password@. The
  // password is quoted in the connection string ('s3 cret'), or quoted with the doubled quotes of
  // a postgresql.conf string (''s3 cret''), or unquoted up to a space or to the quote that ends
  // the postgresql.conf string it is in. A URL's password runs to the last '@' before the path,
  // should it hold an '@' of its own.
  static const std::regex kConninfoPassword(
      R"((password\s*=\s*)(''(?:[^']|'(?!'))*''|'(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.|''|'(?=[^\s']))+))",
      std::regex::icase);
  static const std::regex kUrlPassword(R"(([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^\s/]*@)",
                                       std::regex::icase);
  std::istringstream lines(configuration_text);
  std::ostringstream kept;
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    if (!first) {
      kept << '\n';
    }
    first = false;
    // A CRLF line: the regexes' '.' stops at '\r', so a setting would not match and its secret
    // would stay. Matched without it, written back with it.
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) {
      line.pop_back();
    }
    const char* const line_end = crlf ? "\r" : "";
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#' || line[start] == ';') {
      kept << line << line_end;
      continue;
    }
    std::smatch parts;
    if (std::regex_match(line, parts, kSetting) && names_a_secret(parts[2].str())) {
      kept << parts[1].str() << parts[2].str() << parts[3].str() << "<redacted>" << line_end;
      continue;
    }
    std::string value = std::regex_replace(line, kConninfoPassword, "$1<redacted>");
    kept << std::regex_replace(value, kUrlPassword, "$1<redacted>@") << line_end;
  }
  if (!configuration_text.empty() && configuration_text.back() == '\n') {
    kept << '\n';
  }
  return kept.str();
}

}  // namespace expense_ops::worker::backup
