// Compiled by the core_rejects_postgres_headers test with extension/core's flags: it stands
// for a core source that includes a PostgreSQL header, and must not compile.
#include "postgres.h"

int main() { return 0; }
