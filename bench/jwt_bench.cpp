// JWT sign + verify in extension/core, with Google Benchmark. The issue's bar: at least 100k
// sign+verify pairs per second. Its peer is the bare HMAC-SHA256 over the same bytes, so the
// row shows what the JWT handling adds to the cryptography it cannot avoid.
#include <benchmark/benchmark.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/jwt.hpp"

namespace jwt = expense_ops::core::jwt;

namespace {

const jwt::Key kKey{"2026-11", "0123456789abcdef0123456789abcdef"};
const std::string kClaims =
    R"({"role":"expense_user","sub":"6f1c2f4e-8d1a-4a57-9b7e-2f0c1e9d3a11","org":"0b9e6a1c-)"
    R"(3f2d-4c8e-9a7b-5d4e3c2b1a00","app_role":"employee","iat":1795710343,"exp":1795714043,)"
    R"("jti":"7d3f1e2a-9c8b-4a6d-8e5f-1b2c3d4e5f60"})";

void SignAndVerify(benchmark::State& state) {
  const jwt::KeyLookup keys = [](std::string_view kid) -> std::optional<std::string> {
    return kid == kKey.kid ? std::optional<std::string>(kKey.secret) : std::nullopt;
  };
  for (auto _ : state) {
    const std::string token = jwt::sign(kClaims, kKey);
    benchmark::DoNotOptimize(jwt::verify(token, keys, 1795710400));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SignAndVerify);

void BareHmacTwice(benchmark::State& state) {
  const std::string message = jwt::sign(kClaims, kKey);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    for (int i = 0; i < 2; ++i) {
      HMAC(EVP_sha256(), kKey.secret.data(), static_cast<int>(kKey.secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
      benchmark::DoNotOptimize(digest);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BareHmacTwice);

}  // namespace

BENCHMARK_MAIN();
