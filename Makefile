# expense_ops: the extension builds with PGXS (make, make install, make installcheck);
# the core library, the worker and the GoogleTest suites build with CMake (see CMakeLists.txt).
#
#   make run     install what is missing, build, and run the embedded default under .run/
#   make test    every test layer on a throwaway cluster
#   make bench   benchmarks against their peers; results in bench/README.md

MODULE_big   = expense_ops
CORE_SRCS    = $(sort $(wildcard extension/core/*.cpp))
GLUE_SRCS    = $(sort $(wildcard extension/pg/*.cpp))
OBJS         = $(CORE_SRCS:.cpp=.o) $(GLUE_SRCS:.cpp=.o)
PGFILEDESC   = "expense_ops - expense management API and support plan"

# Installed as share/extension/*, like any extension's control file and scripts.
MODULEDIR    = extension
DATA         = extension/expense_ops.control $(sort $(wildcard migrations/expense_ops--*.sql))

REGRESS      = boundary trigger_call_sites roles health identity expenses tickets

# The one place the version lives is the control file.
EXTVERSION  := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" extension/expense_ops.control)

PG_CONFIG   ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)

WARNINGS     = -Wall -Wextra $(if $(CI)$(WERROR),-Werror)
# The server headers are C and not warning-clean C++ (register, unused parameters): reading them
# as system headers keeps -Wextra -Werror about our own code.
PG_CPPFLAGS  = -I$(CURDIR)/extension -isystem $(shell $(PG_CONFIG) --includedir-server) \
               -DEXPENSE_OPS_VERSION='"$(EXTVERSION)"'
# -MMD -MP: each object records the headers it read (foo.o -> foo.d), so editing a header
# rebuilds what uses it. PGXS's own autodepend names them by basename, and core/health.cpp and
# pg/health.cpp would collide.
PG_CXXFLAGS  = -std=c++17 -fexceptions $(WARNINGS) -MMD -MP
EXTRA_CLEAN  = $(OBJS:.o=.d)
# -Bsymbolic-functions: calls between our own functions bind inside the library instead of
# going through the PLT on every call (the per-row SLA clock makes thousands of them); the
# symbols stay exported for PostgreSQL to find.
SHLIB_LINK   = -lstdc++ -lcrypto -largon2 -lcrypt -ldate-tz -licuuc -licudata -Wl,-Bsymbolic-functions

# No LLVM bitcode: the C++ bodies are not worth inlining into JIT-compiled expressions, and
# skipping it keeps clang out of the build. Must be set before PGXS reads with_llvm.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL 15 server headers (PGXS) are missing: run scripts/install-deps.sh, or just make run / make test" >&2
	@exit 1
endif

-include $(OBJS:.o=.d) $(PROBE_OBJS:.o=.d)
# The version is compiled in (core/version.hpp): a new default_version must rebuild.
$(OBJS): extension/expense_ops.control

# extension/core never sees PostgreSQL: its objects compile without the server include path,
# and with identifiers from postgres.h poisoned, so an include of a PostgreSQL header fails.
CORE_CPPFLAGS = -I$(CURDIR)/extension -include $(CURDIR)/extension/core/forbid_postgres.hpp \
	-DEXPENSE_OPS_VERSION='"$(EXTVERSION)"' -DUSE_OS_TZDB=1 -DONLY_C_LOCALE=1 -DHAS_STRING_VIEW=1
$(CORE_SRCS:.cpp=.o): override CPPFLAGS := $(CORE_CPPFLAGS)

# Proves that these flags reject a PostgreSQL header even with the server headers in reach:
# the probe must fail to compile, on the poison. make test runs it with the unit layer.
# The error-boundary probes (test/probes) throw and raise on purpose, and one runs any SQL it is
# given: they are built into a library of their own that only `make test` installs, never into
# expense_ops.so. They link the same boundary and conversion objects as the extension, bound
# inside the probe library (-Bsymbolic) so that they test these copies whatever else is loaded.
PROBE_LIBRARY = test/probes/expense_ops_probes$(DLSUFFIX)
PROBE_OBJS    = test/probes/boundary_probe.o extension/pg/boundary.o extension/pg/datum.o \
                extension/pg/spi.o
EXTRA_CLEAN  += $(PROBE_LIBRARY) $(PROBE_OBJS:.o=.d)

$(PROBE_LIBRARY): $(PROBE_OBJS)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) $(LDFLAGS_SL) -shared -o $@ $^ -lstdc++ -Wl,-Bsymbolic

install-probes: $(PROBE_LIBRARY)
	$(INSTALL_SHLIB) $(PROBE_LIBRARY) '$(DESTDIR)$(pkglibdir)/'

check-core-isolation:
	@out=$$($(CXX) -std=c++17 -fsyntax-only $(CORE_CPPFLAGS) -I$(includedir_server) \
		test/unit/probes/core_includes_postgres.cpp 2>&1); \
	if echo "$$out" | grep -q "attempt to use poisoned"; then \
		echo "core isolation: a PostgreSQL header in extension/core fails to compile, as it must"; \
	else \
		echo "core isolation BROKEN: the probe including postgres.h was not refused:"; echo "$$out"; exit 1; \
	fi

.PHONY: deps cmake-build install-probes check-core-isolation test run bench format
deps:
	scripts/install-deps.sh

cmake-build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXPENSE_OPS_WERROR=$(if $(CI)$(WERROR),ON,OFF) >/dev/null
	cmake --build build -j2

test:
	scripts/test.sh

run:
	scripts/run.sh

bench:
	bench/run.sh

format:
	clang-format -i $(CORE_SRCS) $(GLUE_SRCS) extension/core/*.hpp extension/pg/*.hpp worker/*.cpp worker/*.hpp test/unit/*.cpp
