#include "core/client_address.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

namespace client_address = expense_ops::core::client_address;
using expense_ops::core::RuleViolation;

namespace {

// PostgREST reaches the database from 10.0.0.5; a reverse proxy sits in front of it at
// 10.0.1.0/24. Clients are everywhere else.
constexpr std::string_view kPostgrest = "10.0.0.5";
constexpr std::string_view kTrusted = "10.0.0.5/32, 10.0.1.0/24";

std::string resolve(std::optional<std::string_view> forwarded_for,
                    std::string_view trusted = kTrusted,
                    std::optional<std::string_view> peer = kPostgrest) {
  return client_address::resolve(forwarded_for, peer, trusted);
}

std::string rule_violation_of(std::string_view setting) {
  try {
    client_address::parse_trusted_proxies(setting);
  } catch (const RuleViolation& violation) {
    EXPECT_EQ(violation.sqlstate(), "22023") << setting;
    return violation.what();
  }
  ADD_FAILURE() << "accepted: " << setting;
  return {};
}

}  // namespace

TEST(ClientAddress, WithoutTrustedProxiesTheHeaderIsIgnored) {
  EXPECT_EQ(resolve("192.0.2.77", ""), kPostgrest);
  EXPECT_EQ(resolve("garbage", ""), kPostgrest);
  EXPECT_EQ(resolve(std::nullopt, ""), kPostgrest);
}

TEST(ClientAddress, AnUntrustedPeerIsTheClientWhateverItsHeaderSays) {
  EXPECT_EQ(resolve("192.0.2.77", kTrusted, "203.0.113.50"), "203.0.113.50");
  EXPECT_EQ(resolve("10.0.0.5", kTrusted, "203.0.113.50"), "203.0.113.50");
}

TEST(ClientAddress, TheRightMostUntrustedEntryIsTheClient) {
  // The client wrote the left entries; the proxy appended the address it saw.
  EXPECT_EQ(resolve("198.51.100.9, 192.0.2.1, 203.0.113.50"), "203.0.113.50");
  EXPECT_EQ(resolve("203.0.113.50"), "203.0.113.50");
}

TEST(ClientAddress, AVictimAddressSpoofedByAClientIsNotThrottled) {
  constexpr std::string_view kVictim = "192.0.2.77";
  const std::string chain = std::string(kVictim) + ", 203.0.113.50";
  EXPECT_NE(resolve(chain), kVictim);
  EXPECT_EQ(resolve(chain), "203.0.113.50");
  // Spoofing a proxy's address does not help either: the walk stops at the client's own.
  EXPECT_EQ(resolve("192.0.2.77, 10.0.1.3, 203.0.113.50"), "203.0.113.50");
}

TEST(ClientAddress, SeveralTrustedHopsAreSkipped) {
  EXPECT_EQ(resolve("192.0.2.77, 203.0.113.50, 10.0.1.7, 10.0.1.3"), "203.0.113.50");
}

TEST(ClientAddress, WhenEveryHopIsTrustedTheLeftMostIsTheClient) {
  EXPECT_EQ(resolve("10.0.1.7, 10.0.1.3"), "10.0.1.7");
  EXPECT_EQ(resolve("10.0.0.5"), "10.0.0.5");
}

TEST(ClientAddress, GarbageStopsAtTheTrustedHopThatHandedItOver) {
  EXPECT_EQ(resolve("garbage"), kPostgrest);
  EXPECT_EQ(resolve("203.0.113.50, unknown, 10.0.1.3"), "10.0.1.3");
  EXPECT_EQ(resolve("203.0.113.50,,10.0.1.3"), "10.0.1.3");
  EXPECT_EQ(resolve("203.0.113.50,"), kPostgrest);
  EXPECT_EQ(resolve("for=203.0.113.50"), kPostgrest);
  EXPECT_EQ(resolve("_hidden"), kPostgrest);
  EXPECT_EQ(resolve("example.com"), kPostgrest);
  EXPECT_EQ(resolve("203.0.113.256"), kPostgrest);
  EXPECT_EQ(resolve("203.0.113"), kPostgrest);
  EXPECT_EQ(resolve("fe80::1%eth0"), kPostgrest);
  // Asio reads C strings: an embedded NUL must not cut the entry down to 203.0.113.50.
  EXPECT_EQ(resolve(std::string_view("192.0.2.77, 203.0.113.50\0x", 26)), kPostgrest);
  EXPECT_EQ(resolve("203.0.113.50 198.51.100.9"), kPostgrest);
}

TEST(ClientAddress, GarbageLeftOfTheClientIsNeverRead) {
  EXPECT_EQ(resolve("garbage, 203.0.113.50"), "203.0.113.50");
  EXPECT_EQ(resolve("for=x, 203.0.113.50, 10.0.1.3"), "203.0.113.50");
}

TEST(ClientAddress, AnAbsentEmptyOrBlankHeaderLeavesThePeer) {
  EXPECT_EQ(resolve(std::nullopt), kPostgrest);
  EXPECT_EQ(resolve(""), kPostgrest);
  EXPECT_EQ(resolve(" \t "), kPostgrest);
}

TEST(ClientAddress, BlanksAroundEntriesAreIgnored) {
  EXPECT_EQ(resolve("  192.0.2.77 ,\t203.0.113.50\t, 10.0.1.3  "), "203.0.113.50");
}

TEST(ClientAddress, PortsAreAcceptedAndDropped) {
  EXPECT_EQ(resolve("203.0.113.50:5678"), "203.0.113.50");
  EXPECT_EQ(resolve("[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(resolve("[2001:db8::1]"), "2001:db8::1");
  EXPECT_EQ(resolve("203.0.113.50:5678, 10.0.1.3:80"), "203.0.113.50");
  // Ports that are not ports, and brackets that are not IPv6's, do not parse.
  EXPECT_EQ(resolve("203.0.113.50:"), kPostgrest);
  EXPECT_EQ(resolve("203.0.113.50:65536"), kPostgrest);
  EXPECT_EQ(resolve("203.0.113.50:-1"), kPostgrest);
  EXPECT_EQ(resolve("[2001:db8::1]:"), kPostgrest);
  EXPECT_EQ(resolve("[2001:db8::1]x"), kPostgrest);
  EXPECT_EQ(resolve("[2001:db8::1"), kPostgrest);
  EXPECT_EQ(resolve("[203.0.113.50]"), kPostgrest);
}

TEST(ClientAddress, IPv6AddressesAndNetworks) {
  constexpr std::string_view kTrustedV6 = "2001:db8:1::/48";
  EXPECT_EQ(resolve("2001:DB8:2:0:0:0:0:0001", kTrustedV6, "2001:db8:1::5"), "2001:db8:2::1");
  EXPECT_EQ(resolve("2001:db8:2::1, 2001:db8:1:ffff::9", kTrustedV6, "2001:db8:1::5"),
            "2001:db8:2::1");
  EXPECT_EQ(resolve("2001:db8:2::1", kTrustedV6, "2001:db8:2::5"), "2001:db8:2::5");
  // A bare IPv6 address never has a port: this is the address 2001:db8:2::1:80.
  EXPECT_EQ(resolve("2001:db8:2::1:80", kTrustedV6, "2001:db8:1::5"), "2001:db8:2::1:80");
}

TEST(ClientAddress, MappedIPv4IsIPv4) {
  // In the header, as the peer, and in the setting.
  EXPECT_EQ(resolve("::ffff:203.0.113.50"), "203.0.113.50");
  EXPECT_EQ(resolve("[::ffff:203.0.113.50]:80"), "203.0.113.50");
  EXPECT_EQ(resolve("203.0.113.50", kTrusted, "::ffff:10.0.0.5"), "203.0.113.50");
  EXPECT_EQ(resolve("::ffff:10.0.1.3", "10.0.1.3/32", "::ffff:10.0.1.3"), "10.0.1.3");
  EXPECT_EQ(resolve("203.0.113.50", "::ffff:10.0.0.0/104", "10.0.0.5"), "203.0.113.50");
  EXPECT_EQ(resolve("203.0.113.50", "::ffff:10.0.0.5", "10.0.0.5"), "203.0.113.50");
  EXPECT_EQ(resolve(std::nullopt, "", "::ffff:203.0.113.50"), "203.0.113.50");
  // IPv6 networks other than mapped ones only hold IPv6 addresses.
  EXPECT_EQ(resolve("203.0.113.50", "::/0", "10.0.0.5"), "10.0.0.5");
}

TEST(ClientAddress, AUnixSocketConnectionIsLocal) {
  EXPECT_EQ(client_address::kLocalConnection, "127.0.0.1");
  EXPECT_EQ(resolve(std::nullopt, "", std::nullopt), "127.0.0.1");
  EXPECT_EQ(resolve("203.0.113.50", "", std::nullopt), "127.0.0.1");
  EXPECT_EQ(resolve("203.0.113.50", "10.0.1.0/24", std::nullopt), "127.0.0.1");
  // PostgREST over a Unix socket is trusted by listing the local address.
  EXPECT_EQ(resolve("192.0.2.77, 203.0.113.50", "127.0.0.1", std::nullopt), "203.0.113.50");
  EXPECT_EQ(resolve("garbage", "127.0.0.1", std::nullopt), "127.0.0.1");
}

TEST(ClientAddress, AConnectionAddressMustBeAnAddress) {
  for (const char* peer : {"", "garbage", "10.0.0.5/32", "fe80::1%lo"}) {
    EXPECT_THROW(resolve(std::nullopt, kTrusted, peer), RuleViolation) << peer;
  }
}

TEST(ClientAddress, TrustedProxiesParseToCanonicalNetworks) {
  EXPECT_EQ(client_address::parse_trusted_proxies(
                " 10.0.0.0/8,192.0.2.1 ::1,\n2001:DB8::/32,, ::ffff:10.0.0.0/104,"),
            (std::vector<std::string>{"10.0.0.0/8", "192.0.2.1/32", "::1/128", "2001:db8::/32",
                                      "10.0.0.0/8"}));
  EXPECT_TRUE(client_address::parse_trusted_proxies("").empty());
  EXPECT_TRUE(client_address::parse_trusted_proxies(" , ").empty());
  EXPECT_EQ(client_address::parse_trusted_proxies("0.0.0.0/0"),
            std::vector<std::string>{"0.0.0.0/0"});
}

TEST(ClientAddress, AnInvalidTrustedProxyIsAnErrorNamingIt) {
  for (const char* entry :
       {"10.0.0.0/33", "10.0.0.1/8", "2001:db8::1/32", "example.com", "10.0.0.0/8x", "10.0.0.0/",
        "/8", "10.0.0", "fe80::1%lo", "10.0.0.0/00000000000000000008", "2001:db8::/129"}) {
    const std::string message = rule_violation_of(std::string("10.9.9.9, ") + entry);
    EXPECT_NE(message.find(std::string("\"") + entry + "\""), std::string::npos) << message;
  }
  // resolve() reads the setting each time, so a bad one never passes silently.
  EXPECT_THROW(resolve(std::nullopt, "10.0.0.1/8"), RuleViolation);
}
