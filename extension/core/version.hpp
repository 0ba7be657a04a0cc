#pragma once

// The build passes EXPENSE_OPS_VERSION, read from extension/expense_ops.control, so the
// version is written down in exactly one place.
#ifndef EXPENSE_OPS_VERSION
#error "EXPENSE_OPS_VERSION must be defined by the build (see the Makefile and CMakeLists.txt)"
#endif

namespace expense_ops::core {
inline constexpr const char* kLibraryVersion = EXPENSE_OPS_VERSION;
}
