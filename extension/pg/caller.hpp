// Who is calling, for glue that records or checks it (extension/pg/caller.cpp).
#pragma once

#include <optional>

#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// The sub claim of the request, as iam.current_user_id() returns it; nullopt for none. Read once
// per transaction and claims.
std::optional<pg_uuid_t> caller_user_id();

// The organisation of a user, disabled or not; nullopt when there is no such user. Read once per
// transaction, like the caller's own row.
std::optional<pg_uuid_t> organisation_of_user(const pg_uuid_t& user_id);

}  // namespace expense_ops::pg
