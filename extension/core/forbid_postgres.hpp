// Force-included ahead of every translation unit of extension/core (see Makefile and
// CMakeLists.txt). The core must build and be tested without a server, so it may never
// include a PostgreSQL header: poisoning identifiers that postgres.h and its friends
// declare turns any such include into a compile error, wherever the header is found.
#pragma once

#pragma GCC poison Datum palloc pfree ereport elog PG_FUNCTION_ARGS MemoryContext
