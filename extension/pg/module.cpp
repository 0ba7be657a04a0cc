// The shared library's identity card for PostgreSQL's loader.
#include "pg/postgres_headers.hpp"

extern "C" {
PG_MODULE_MAGIC;
}
