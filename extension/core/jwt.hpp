// JSON Web Tokens signed with HS256 (RFC 7519 / 7515), as PostgREST verifies them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace expense_ops::core::jwt {

// Unpadded base64url (RFC 4648 section 5). decode is strict: URL alphabet only, no padding,
// no length that cannot come from encode.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// A signing key: an identifier for the token header, and at least kMinSecretBytes of secret.
struct Key {
  std::string kid;
  std::string secret;
};
inline constexpr std::size_t kMinSecretBytes = 32;

// Signs `claims_json`, which must be a JSON object in text, with HS256 under `key`. The header
// is {"alg":"HS256","typ":"JWT","kid":...}.
std::string sign(std::string_view claims_json, const Key& key);

// Why a token was refused. The message is for logs, never for the caller.
class TokenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct VerifiedToken {
  std::string kid;
  std::string claims_json;
  std::int64_t expires_at;  // exp, seconds since the Unix epoch
};

// The secret for a kid, or nullopt for an unknown or retired key.
using KeyLookup = std::function<std::optional<std::string>(std::string_view kid)>;

// Checks the structure, that alg is HS256 (never "none"), the signature under the key the kid
// names (compared in constant time), and that exp is later than `now` and iat/nbf are not
// beyond `now` + `leeway_seconds`. Throws TokenError.
VerifiedToken verify(std::string_view token, const KeyLookup& keys, std::int64_t now,
                     std::int64_t leeway_seconds = 30);

}  // namespace expense_ops::core::jwt
