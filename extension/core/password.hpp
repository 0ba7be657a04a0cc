// Password hashing: argon2id (libargon2) for everything new, bcrypt (libxcrypt) accepted for
// accounts migrated from elsewhere, such as Supabase's auth.users, and rehashed at next login.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace expense_ops::core::password {

struct Argon2Parameters {
  std::uint32_t memory_kib;
  std::uint32_t iterations;
  std::uint32_t parallelism;
};

// OWASP's recommendation for argon2id: m = 19 MiB, t = 2, p = 1.
inline constexpr Argon2Parameters kOwasp{19 * 1024, 2, 1};

// Passwords longer than this are never hashed in full: hashing cost is the point of the scheme,
// and an unbounded input would hand it to the caller. hash() refuses them; verify() and
// spend_a_verification() hash the first kMaxPasswordBytes instead, so that refusing one takes
// as long as any other failure.
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// The rule for a new password: 8 to 1024 bytes. Throws RuleViolation (22X10, 22X11).
inline constexpr std::size_t kMinPasswordBytes = 8;
void check_new_password(std::string_view password);

// A PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with a fresh 16-byte salt.
std::string hash(std::string_view password, const Argon2Parameters& parameters = kOwasp);

enum class Verdict {
  kMismatch,
  kMatch,
  kMatchButRehash,  // right password, stored hash weaker than `current` (or bcrypt)
};

// Checks `password` against a stored argon2id PHC string or bcrypt hash ($2a$, $2b$, $2y$).
// Anything else never matches. Whatever the outcome, exactly one argon2id computation is
// spent: a password over kMaxPasswordBytes, a bcrypt hash (on top of bcrypt's own cost) and a
// stored string that is not a usable hash all pay for one, like a wrong argon2id password.
// A stored argon2id hash is checked at its own parameters: one weaker than `current` costs
// less until the login that rehashes it (kMatchButRehash).
Verdict verify(std::string_view password, std::string_view stored,
               const Argon2Parameters& current = kOwasp);

// Spends one argon2id computation at `current` and matches nothing: for refusals decided
// before any password check (unknown account, locked, ...), so that their answer takes as long
// as a wrong password's.
void spend_a_verification(std::string_view password, const Argon2Parameters& current = kOwasp);

// How many argon2id computations this process has completed (hash() and verify() alike). It
// only grows; the difference across a call is what that call cost. Tests use it to prove that
// every failing login path costs the same.
std::uint64_t argon2id_computations() noexcept;

// The parameters of an argon2id PHC string, or nullopt if it is not one.
std::optional<Argon2Parameters> argon2id_parameters(std::string_view phc);

bool is_bcrypt(std::string_view stored);

}  // namespace expense_ops::core::password
