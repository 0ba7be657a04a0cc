#include "core/jwt.hpp"

#include <gtest/gtest.h>

namespace jwt = expense_ops::core::jwt;

namespace {

const jwt::Key kKey{"k1", "0123456789abcdef0123456789abcdef"};
const std::int64_t kNow = 1'800'000'000;

jwt::KeyLookup only(const jwt::Key& key) {
  return [key](std::string_view kid) -> std::optional<std::string> {
    return kid == key.kid ? std::optional<std::string>(key.secret) : std::nullopt;
  };
}

std::string refusal(const std::string& token, const jwt::KeyLookup& keys = only(kKey)) {
  try {
    jwt::verify(token, keys, kNow);
  } catch (const jwt::TokenError& error) {
    return error.what();
  }
  return "<accepted>";
}

std::string replace_part(const std::string& token, int index, const std::string& replacement) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  std::string parts[3] = {token.substr(0, first), token.substr(first + 1, second - first - 1),
                          token.substr(second + 1)};
  parts[index] = replacement;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

}  // namespace

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(jwt::base64url_decode(jwt::base64url_encode(bytes)), bytes);
    bytes.push_back(static_cast<char>(i * 37 + 251));
  }
  EXPECT_EQ(jwt::base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64Url, DecodeIsStrict) {
  EXPECT_FALSE(jwt::base64url_decode("ab=="));   // padding
  EXPECT_FALSE(jwt::base64url_decode("a+b/"));   // the other alphabet
  EXPECT_FALSE(jwt::base64url_decode("abcde"));  // impossible length
  EXPECT_FALSE(jwt::base64url_decode("-_9"));    // non-zero leftover bits
  EXPECT_EQ(jwt::base64url_decode(""), std::string());
}

TEST(Jwt, VerifiesATokenFromAnIndependentImplementation) {
  // Made by python3-jwt 2.6 (Debian) with the same key and kid.
  const std::string pyjwt_token =
      "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJ1MSIsInJvbGUiOiJleHBlbnNlX3VzZXIiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMH0."
      "RG8YKQeCgK5kr9ehtZoTEWtmNGuguiztR8hBI9RH8oE";
  const auto verified = jwt::verify(pyjwt_token, only(kKey), kNow);
  EXPECT_EQ(verified.kid, "k1");
  EXPECT_EQ(verified.expires_at, 4102444800);
  EXPECT_NE(verified.claims_json.find("\"role\":\"expense_user\""), std::string::npos);
}

TEST(Jwt, SignsWhatItVerifies) {
  const std::string claims = R"({"sub":"u1","exp":1800000600,"iat":1800000000,"jti":"j"})";
  const std::string token = jwt::sign(claims, kKey);
  const auto verified = jwt::verify(token, only(kKey), kNow);
  EXPECT_EQ(verified.claims_json, claims);
  EXPECT_EQ(verified.expires_at, 1800000600);
  EXPECT_EQ(*jwt::base64url_decode(token.substr(0, token.find('.'))),
            R"({"alg":"HS256","typ":"JWT","kid":"k1"})");
}

TEST(Jwt, RefusesOtherAlgorithmsAndNone) {
  const std::string hs384 =
      "eyJhbGciOiJIUzM4NCIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSIsImV4cCI6NDEwMjQ0NDgwMH0."
      "oCDsI8ddXW0yanuUNnsPhrxqFat4D57Se7RLJbYOPFYXU-riUHBs9JMnJV3VOOuE";
  EXPECT_EQ(refusal(hs384), "only HS256 tokens are accepted");
  const std::string token = jwt::sign(R"({"exp":1800000600})", kKey);
  const std::string none_header = jwt::base64url_encode(R"({"alg":"none","typ":"JWT","kid":"k1"})");
  EXPECT_EQ(refusal(replace_part(replace_part(token, 0, none_header), 2, "")),
            "only HS256 tokens are accepted");
}

TEST(Jwt, RefusesAWrongSignatureOrChangedClaims) {
  const std::string token =
      jwt::sign(R"({"sub":"u1","role":"expense_user","exp":1800000600})", kKey);
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(refusal(flipped), "the token's signature does not match");
  const std::string promoted =
      jwt::base64url_encode(R"({"sub":"u1","role":"postgres","exp":1800000600})");
  EXPECT_EQ(refusal(replace_part(token, 1, promoted)), "the token's signature does not match");
  const jwt::Key other{"k1", "another secret of at least 32 bytes!"};
  EXPECT_EQ(refusal(jwt::sign(R"({"exp":1800000600})", other)),
            "the token's signature does not match");
}

TEST(Jwt, RefusesExpiredAndFutureTokens) {
  EXPECT_EQ(refusal(jwt::sign(R"({"exp":1800000000})", kKey)), "the token has expired");
  EXPECT_EQ(refusal(jwt::sign(R"({"sub":"u1"})", kKey)), "the token has no exp claim");
  EXPECT_EQ(refusal(jwt::sign(R"({"exp":"soon"})", kKey)),
            "claim exp is not a whole number of seconds");
  EXPECT_EQ(refusal(jwt::sign(R"({"exp":1800000600,"iat":1800000031})", kKey)),
            "the token's iat lies in the future");
  EXPECT_EQ(refusal(jwt::sign(R"({"exp":1800000600,"iat":1800000030})", kKey)), "<accepted>");
  EXPECT_EQ(refusal(jwt::sign(R"({"exp":1800000600,"nbf":1800000100})", kKey)),
            "the token's nbf lies in the future");
}

TEST(Jwt, KeyRotationVerifiesOldKeysUntilRetired) {
  const jwt::Key old_key{"2026-10", "an older secret, thirty-two bytes.."};
  const jwt::Key new_key{"2026-11", "the current secret, 32 bytes long!"};
  const std::string old_token = jwt::sign(R"({"exp":1800000600})", old_key);
  jwt::KeyLookup both = [&](std::string_view kid) -> std::optional<std::string> {
    if (kid == old_key.kid)
      return old_key.secret;
    if (kid == new_key.kid)
      return new_key.secret;
    return std::nullopt;
  };
  EXPECT_EQ(refusal(old_token, both), "<accepted>");
  EXPECT_EQ(refusal(old_token, only(new_key)), "the token's key is unknown or retired");
}

TEST(Jwt, RefusesMalformedTokens) {
  EXPECT_EQ(refusal("abc"), "a token has exactly three dot-separated parts");
  EXPECT_EQ(refusal("a.b.c.d"), "a token has exactly three dot-separated parts");
  EXPECT_EQ(refusal("a+.b.c"), "a token part is not base64url");
  EXPECT_EQ(refusal(jwt::base64url_encode("not json") + ".e30.sig"),
            "the token's header is not a JSON object");
  const std::string no_kid = jwt::base64url_encode(R"({"alg":"HS256"})");
  EXPECT_EQ(refusal(no_kid + ".e30.abc"), "the token header names no kid");
}

TEST(Jwt, RefusesShortSecrets) {
  EXPECT_THROW(jwt::sign("{}", jwt::Key{"k", "too short"}), std::invalid_argument);
}
