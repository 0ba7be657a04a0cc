// Reading pgBackRest 2.45's `verify --output=text --verbose`, which exits 0 whatever it finds
// (worker/backup/pgbackrest.hpp). The reports are as pgBackRest printed them in a real run.
#include <gtest/gtest.h>

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
