#include "core/client_address.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <charconv>
#include <cstdint>

#include "core/error.hpp"

namespace expense_ops::core::client_address {

namespace {

namespace ip = boost::asio::ip;

// Everything an address, a port or a prefix is written with. Checked before Asio sees the text:
// it reads C strings (an embedded NUL would cut the entry short) and accepts zone indexes,
// which it resolves by interface name.
bool has_only_address_characters(std::string_view text, std::string_view extra) {
  const std::string allowed = std::string("0123456789abcdefABCDEF.:").append(extra);
  return text.find_first_not_of(allowed) == std::string_view::npos;
}

std::string_view trim_blanks(std::string_view text) {
  constexpr std::string_view kBlanks = " \t";
  const auto first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
}

// One client, one key: ::ffff:192.0.2.1 is 192.0.2.1.
ip::address without_v4_mapping(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

std::optional<ip::address> parse_address(std::string_view text) {
  boost::system::error_code error;
  const ip::address address = ip::make_address(std::string(text), error);
  if (error) {
    return std::nullopt;
  }
  return without_v4_mapping(address);
}

bool is_port(std::string_view text) {
  std::uint16_t port = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  return !text.empty() && error == std::errc{} && end == text.data() + text.size();
}

// One X-Forwarded-For entry, in the forms client_address.hpp lists.
std::optional<ip::address> parse_forwarded_entry(std::string_view entry) {
  entry = trim_blanks(entry);
  if (entry.empty() || !has_only_address_characters(entry, "[]")) {
    return std::nullopt;
  }
  if (entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view after = entry.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || !is_port(after.substr(1)))) {
      return std::nullopt;
    }
    auto address = parse_address(entry.substr(1, close - 1));
    // Brackets are IPv6's way to carry a port; "[192.0.2.1]" is nobody's spelling.
    if (!address || entry.substr(1, close - 1).find(':') == std::string_view::npos) {
      return std::nullopt;
    }
    return address;
  }
  const auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    // One colon: IPv4 with a port (an IPv6 address has at least two).
    if (!is_port(entry.substr(colon + 1))) {
      return std::nullopt;
    }
    const auto address = parse_address(entry.substr(0, colon));
    return address && address->is_v4() ? address : std::nullopt;
  }
  return parse_address(entry);
}

class TrustedNetworks {
 public:
  explicit TrustedNetworks(std::string_view setting) {
    constexpr std::string_view kSeparators = ", \t\r\n";
    std::size_t start = setting.find_first_not_of(kSeparators);
    while (start != std::string_view::npos) {
      const std::size_t end = setting.find_first_of(kSeparators, start);
      add(setting.substr(start, end == std::string_view::npos ? end : end - start));
      start = end == std::string_view::npos ? end : setting.find_first_not_of(kSeparators, end);
    }
  }

  bool contains(const ip::address& address) const {
    // Both sides are free of IPv4 mapping, so each family only meets its own networks.
    if (address.is_v4()) {
      for (const auto& network : v4_) {
        if (ip::network_v4(address.to_v4(), network.prefix_length()).canonical() == network) {
          return true;
        }
      }
      return false;
    }
    for (const auto& network : v6_) {
      if (ip::network_v6(address.to_v6(), network.prefix_length()).canonical() == network) {
        return true;
      }
    }
    return false;
  }

  const std::vector<std::string>& canonical_entries() const { return canonical_entries_; }

 private:
  [[noreturn]] static void refuse(std::string_view entry, const std::string& why) {
    throw RuleViolation(sqlstate::kInvalidParameterValue,
                        "trusted proxy \"" + std::string(entry) + "\" " + why,
                        "List networks such as 10.0.0.0/8 or 2001:db8::/32, or single addresses "
                        "such as 10.1.2.3, separated by commas.");
  }

  void add(std::string_view entry) {
    if (!has_only_address_characters(entry, "/")) {
      refuse(entry, "is not an IP network");
    }
    if (entry.find('/') == std::string_view::npos) {
      const auto address = parse_address(entry);
      if (!address) {
        refuse(entry, "is not an IP address");
      }
      if (address->is_v4()) {
        add_checked(entry, ip::network_v4(address->to_v4(), 32));
      } else {
        add_checked(entry, ip::network_v6(address->to_v6(), 128));
      }
      return;
    }
    // Asio reads the prefix length with atoi, which three digits cannot overflow.
    constexpr std::size_t kLongestPrefixLength = 3;
    if (entry.size() - entry.find('/') - 1 > kLongestPrefixLength) {
      refuse(entry, "has no valid prefix length");
    }
    boost::system::error_code error;
    const std::string text(entry);
    if (entry.find(':') == std::string_view::npos) {
      const ip::network_v4 network = ip::make_network_v4(text, error);
      if (error) {
        refuse(entry, "is not an IP network");
      }
      add_checked(entry, network);
      return;
    }
    const ip::network_v6 network = ip::make_network_v6(text, error);
    if (error) {
      refuse(entry, "is not an IP network");
    }
    constexpr unsigned short kMappedPrefixLength = 96;  // ::ffff:0:0/96 holds IPv4
    if (network.address().is_v4_mapped() && network.prefix_length() >= kMappedPrefixLength) {
      const ip::network_v4 v4(ip::make_address_v4(ip::v4_mapped, network.address()),
                              network.prefix_length() - kMappedPrefixLength);
      add_checked(entry, v4);
      return;
    }
    add_checked(entry, network);
  }

  void add_checked(std::string_view entry, const ip::network_v4& network) {
    if (network != network.canonical()) {
      refuse(entry, "has bits set right of its prefix length");
    }
    v4_.push_back(network);
    canonical_entries_.push_back(network.to_string());
  }

  void add_checked(std::string_view entry, const ip::network_v6& network) {
    if (network != network.canonical()) {
      refuse(entry, "has bits set right of its prefix length");
    }
    v6_.push_back(network);
    canonical_entries_.push_back(network.to_string());
  }

  std::vector<ip::network_v4> v4_;
  std::vector<ip::network_v6> v6_;
  std::vector<std::string> canonical_entries_;  // in the setting's order
};

ip::address connection_peer(std::optional<std::string_view> connection_address) {
  if (!connection_address) {
    return *parse_address(kLocalConnection);
  }
  const auto address = has_only_address_characters(*connection_address, "")
                           ? parse_address(*connection_address)
                           : std::nullopt;
  if (!address) {
    throw RuleViolation(
        sqlstate::kInvalidParameterValue,
        "connection address \"" + std::string(*connection_address) + "\" is not an IP address",
        "Pass host(inet_client_addr()), or nothing for a Unix socket.");
  }
  return *address;
}

}  // namespace

std::vector<std::string> parse_trusted_proxies(std::string_view setting) {
  return TrustedNetworks(setting).canonical_entries();
}

std::string resolve(std::optional<std::string_view> forwarded_for,
                    std::optional<std::string_view> connection_address,
                    std::string_view trusted_proxies) {
  const TrustedNetworks trusted(trusted_proxies);
  ip::address hop = connection_peer(connection_address);
  // From the right: only the entries trusted hops appended are read, never further. A blank
  // header is one empty entry, which stops the walk where it starts.
  std::string_view unread = forwarded_for.value_or("");
  while (trusted.contains(hop)) {
    const std::size_t comma = unread.rfind(',');
    const std::string_view entry =
        comma == std::string_view::npos ? unread : unread.substr(comma + 1);
    const auto address = parse_forwarded_entry(entry);
    if (!address) {
      break;
    }
    hop = *address;
    if (comma == std::string_view::npos) {
      break;  // the left-most entry: every hop so far was trusted
    }
    unread = unread.substr(0, comma);
  }
  return hop.to_string();
}

}  // namespace expense_ops::core::client_address
