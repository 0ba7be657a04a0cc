// Reading pgBackRest 2.45's `verify --output=text --verbose`, which exits 0 whatever it finds
// (worker/backup/pgbackrest.hpp). The reports are as pgBackRest printed them in a real run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "worker/backup/pgbackrest.hpp"

using expense_ops::worker::backup::verify_problems;

namespace {

const char* const kAllValid = R"(stanza: main
status: ok
  archiveId: 15-1, total WAL checked: 8, total valid WAL: 8
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261202-025157F, status: valid, total files checked: 966, total valid files: 966
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261202-025157F_20261202-025212D, status: valid, total files checked: 12, total valid files: 12
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
)";

const char* const kFullFlipped = R"(stanza: main
status: error
  archiveId: 15-1, total WAL checked: 8, total valid WAL: 8
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261202-025157F, status: invalid, total files checked: 966, total valid files: 965
    checksum invalid: 1
  backup: 20261202-025157F_20261202-025212D, status: valid, total files checked: 12, total valid files: 12
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
)";

}  // namespace

TEST(PgBackRestVerify, AValidBackupAndArchiveHaveNoProblem) {
  EXPECT_EQ(verify_problems(kAllValid, "20261202-025157F", {}), "");
  EXPECT_EQ(verify_problems(kAllValid, "20261202-025157F_20261202-025212D", {"20261202-025157F"}),
            "");
}

TEST(PgBackRestVerify, ADifferentialIsAsGoodAsTheFullItReferences) {
  // pgBackRest checks each file once, in the backup that owns it: the differential says valid.
  EXPECT_EQ(verify_problems(kFullFlipped, "20261202-025157F_20261202-025212D", {}), "");
  EXPECT_EQ(
      verify_problems(kFullFlipped, "20261202-025157F_20261202-025212D", {"20261202-025157F"}),
      "backup 20261202-025157F is invalid");
  EXPECT_EQ(verify_problems(kFullFlipped, "20261202-025157F", {}),
            "backup 20261202-025157F is invalid");
}

TEST(PgBackRestVerify, ABackupTheReportDoesNotNameIsNotVerified) {
  EXPECT_EQ(verify_problems(kAllValid, "20261203-010000F", {}),
            "backup 20261203-010000F was not verified");
  // Nothing printed at all (the default console level hides the report) verifies nothing.
  EXPECT_EQ(verify_problems("", "20261202-025157F", {}),
            "backup 20261202-025157F was not verified");
}

TEST(PgBackRestVerify, DamagedWalIsAProblem) {
  const std::string report = R"(stanza: main
status: error
  archiveId: 15-1, total WAL checked: 8, total valid WAL: 7
    missing: 0, checksum invalid: 0, size invalid: 0, other: 1
  backup: 20261202-025157F, status: valid, total files checked: 966, total valid files: 966
)";
  EXPECT_EQ(verify_problems(report, "20261202-025157F", {}), "WAL archive: 7 of 8 files valid");
}

// The restore step of a restore test gets what is left of the restore test's timeout, not the
// (longer) backup-timeout. A stand-in pgbackrest that never finishes shows which one applies.
TEST(PgBackRestRestore, IsCutShortAtTheTimeoutItIsGivenNotAtTheBackupTimeout) {
  namespace fs = std::filesystem;
  const fs::path directory =
      fs::temp_directory_path() / ("pgbackrest_restore_test_" + std::to_string(::getpid()));
  fs::create_directories(directory);
  const fs::path program = directory / "pgbackrest";
  {
    std::ofstream script(program);
    script << "#!/bin/sh\nexec sleep 60\n";
  }
  fs::permissions(program, fs::perms::owner_all);

  expense_ops::worker::BackupConfig config;
  config.backend = "pgbackrest";
  config.pgbackrest_bin = program.string();
  config.timeout = expense_ops::worker::Seconds(3600);
  expense_ops::worker::backup::PgBackRestBackend backend(config, nullptr);

  const auto started = std::chrono::steady_clock::now();
  try {
    backend.restore("20261202-025157F", (directory / "data").string(), std::nullopt,
                    expense_ops::worker::Seconds(1));
    ADD_FAILURE() << "a restore that never ends returned";
  } catch (const expense_ops::worker::backup::BackupFailure& failure) {
    EXPECT_NE(std::string(failure.what())
                  .find("pgbackrest restore was killed after what was left of the "
                        "restore-test-timeout of 1 s"),
              std::string::npos)
        << failure.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  fs::remove_all(directory);
}
