#include "core/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <array>
#include <memory>
// Boost 1.74's PropertyTree still includes <boost/bind.hpp>, which announces a deprecation on
// every build; nothing here uses the global placeholders either way.
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <sstream>

#include "core/json.hpp"

namespace expense_ops::core::jwt {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using MacContext = std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)>;

// OpenSSL 3 looks algorithms up by name, and the one-shot HMAC() does so on every call, which
// cost more than the hashing itself. A prototype context with HMAC and SHA-256 already
// resolved is made once per process; each MAC starts from a copy of it.
const EVP_MAC_CTX& hmac_sha256_prototype() {
  static const MacContext prototype = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    MacContext context(mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr, &EVP_MAC_CTX_free);
    EVP_MAC_free(mac);  // the context holds its own reference
    char digest_name[] = "SHA256";
    const OSSL_PARAM parameters[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    if (!context || EVP_MAC_CTX_set_params(context.get(), parameters) != 1) {
      throw std::runtime_error("OpenSSL has no HMAC-SHA256");
    }
    return context;
  }();
  return *prototype;
}

constexpr std::size_t kSha256Bytes = 32;
using Mac = std::array<unsigned char, kSha256Bytes>;

Mac hmac_sha256(std::string_view secret, std::string_view message) {
  const MacContext context(EVP_MAC_CTX_dup(&hmac_sha256_prototype()), &EVP_MAC_CTX_free);
  Mac digest{};
  std::size_t length = 0;
  if (!context ||
      EVP_MAC_init(context.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), nullptr) != 1 ||
      EVP_MAC_update(context.get(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      EVP_MAC_final(context.get(), digest.data(), &length, digest.size()) != 1) {
    throw std::runtime_error("HMAC-SHA256 failed in OpenSSL");
  }
  return digest;
}

boost::property_tree::ptree parse_object(const std::string& json, const char* what) {
  boost::property_tree::ptree tree;
  std::istringstream stream(json);
  try {
    boost::property_tree::read_json(stream, tree);
  } catch (const boost::property_tree::json_parser_error&) {
    throw TokenError(std::string("the token's ") + what + " is not a JSON object");
  }
  return tree;
}

// The kid of an HS256 header. An issuer puts the same header on all its tokens, so the last
// accepted header segment is remembered (per thread) and not decoded or parsed again.
std::string checked_header_kid(std::string_view segment) {
  thread_local std::string last_segment;
  thread_local std::string last_kid;
  if (!last_segment.empty() && segment == last_segment) {
    return last_kid;
  }
  const auto header_json = base64url_decode(segment);
  if (!header_json) {
    throw TokenError("a token part is not base64url");
  }
  const auto header = parse_object(*header_json, "header");
  if (header.get<std::string>("alg", "") != "HS256") {
    throw TokenError("only HS256 tokens are accepted");
  }
  const auto kid = header.get_optional<std::string>("kid");
  if (!kid) {
    throw TokenError("the token header names no kid");
  }
  last_segment = segment;
  last_kid = *kid;
  return *kid;
}

std::optional<std::int64_t> numeric_claim(const boost::property_tree::ptree& claims,
                                          const char* name) {
  const auto value = claims.get_optional<std::string>(name);
  if (!value) {
    return std::nullopt;
  }
  std::size_t used = 0;
  std::int64_t number = 0;
  try {
    number = std::stoll(*value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value->size()) {
    throw TokenError(std::string("claim ") + name + " is not a whole number of seconds");
  }
  return number;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t full = bytes.size() / 3;
  const std::size_t rest = bytes.size() % 3;
  std::string out(full * 4 + (rest == 0 ? 0 : rest + 1), '\0');
  char* o = out.data();
  for (std::size_t i = 0; i < full; ++i, in += 3) {
    const unsigned n = in[0] << 16 | in[1] << 8 | in[2];
    *o++ = kAlphabet[n >> 18 & 63];
    *o++ = kAlphabet[n >> 12 & 63];
    *o++ = kAlphabet[n >> 6 & 63];
    *o++ = kAlphabet[n & 63];
  }
  if (rest > 0) {
    const unsigned n = in[0] << 16 | (rest == 2 ? in[1] << 8 : 0);
    *o++ = kAlphabet[n >> 18 & 63];
    *o++ = kAlphabet[n >> 12 & 63];
    if (rest == 2) {
      *o++ = kAlphabet[n >> 6 & 63];
    }
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  static const auto kIndex = [] {
    std::array<std::int16_t, 256> index{};
    index.fill(-1);
    for (int i = 0; i < 64; ++i) {
      index[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int16_t>(i);
    }
    return index;
  }();
  const std::size_t rest = text.size() % 4;
  if (rest == 1) {
    return std::nullopt;
  }
  std::string out(text.size() / 4 * 3 + (rest == 0 ? 0 : rest - 1), '\0');
  char* o = out.data();
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int value = kIndex[static_cast<unsigned char>(c)];
    if (value < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 6 | static_cast<unsigned>(value)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *o++ = static_cast<char>(buffer >> bits & 0xFF);
    }
  }
  // Leftover bits must be zero, or two encodings would decode to the same bytes.
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return std::nullopt;
  }
  return out;
}

std::string sign(std::string_view claims_json, const Key& key) {
  if (key.secret.size() < kMinSecretBytes) {
    throw std::invalid_argument("a signing key needs at least 32 bytes of secret");
  }
  // The encoded header depends on the kid alone; remember the last one (per thread).
  thread_local std::string header_kid;
  thread_local std::string encoded_header;
  if (encoded_header.empty() || header_kid != key.kid) {
    std::string header = R"({"alg":"HS256","typ":"JWT","kid":)";
    json::append_quoted(header, key.kid);
    header.push_back('}');
    encoded_header = base64url_encode(header);
    header_kid = key.kid;
  }
  std::string token;
  token.reserve(encoded_header.size() + claims_json.size() * 4 / 3 + 48);
  token += encoded_header;
  token.push_back('.');
  token += base64url_encode(claims_json);
  const Mac signature = hmac_sha256(key.secret, token);
  token.push_back('.');
  token += base64url_encode(
      std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
  return token;
}

VerifiedToken verify(std::string_view token, const KeyLookup& keys, std::int64_t now,
                     std::int64_t leeway_seconds) {
  const std::size_t first_dot = token.find('.');
  const std::size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    throw TokenError("a token has exactly three dot-separated parts");
  }
  const std::string kid = checked_header_kid(token.substr(0, first_dot));
  const auto claims_json =
      base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  const auto signature = base64url_decode(token.substr(second_dot + 1));
  if (!claims_json || !signature) {
    throw TokenError("a token part is not base64url");
  }

  const auto secret = keys(kid);
  if (!secret) {
    throw TokenError("the token's key is unknown or retired");
  }
  const Mac expected = hmac_sha256(*secret, token.substr(0, second_dot));
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    throw TokenError("the token's signature does not match");
  }

  const auto claims = parse_object(*claims_json, "claims");
  const auto expires_at = numeric_claim(claims, "exp");
  if (!expires_at) {
    throw TokenError("the token has no exp claim");
  }
  if (*expires_at <= now) {
    throw TokenError("the token has expired");
  }
  for (const char* name : {"iat", "nbf"}) {
    if (const auto at = numeric_claim(claims, name); at && *at > now + leeway_seconds) {
      throw TokenError(std::string("the token's ") + name + " lies in the future");
    }
  }
  return VerifiedToken{kid, *claims_json, *expires_at};
}

}  // namespace expense_ops::core::jwt
