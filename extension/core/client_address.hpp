// The address a login attempt is throttled and recorded under: the connection's peer, or, when
// that peer is a trusted proxy, the right-most address in X-Forwarded-For that is not one.
//
// Why not simply the first X-Forwarded-For entry: the client writes whatever it likes there.
// A value that does not parse would skip the throttle, a victim's address would lock the victim
// out, and fresh addresses would dodge the limit. Only what trusted proxies append can be
// believed, and each appends the peer it saw, so the chain is read from the right.
//
// Trusted proxies (a setting). List, as CIDRs or single addresses:
//   * the address PostgREST connects to the database from: it is the database's peer, so this
//     is what says "the header on this connection was written by our proxies". PostgREST over
//     a Unix socket has no address; it counts as kLocalConnection, so list 127.0.0.1.
//   * every reverse proxy in front of PostgREST that may appear in the header (the inner ones
//     of a chain; listing the outermost too is harmless).
// List nothing unless a proxy in front of PostgREST sets or appends X-Forwarded-For and
// clients cannot reach PostgREST without it: otherwise the right-most entry is the client's
// own choice. Keep the networks narrow: a client inside one is skipped as if it were a proxy.
// With nothing listed the header is never read and the peer is the address.
//
// Setting syntax: entries separated by commas and/or whitespace; each an IPv4 or IPv6 network
// with its prefix ("10.0.0.0/8", "2001:db8::/32") or a single address ("10.1.2.3", "::1").
// As with PostgreSQL's cidr type, bits set right of the prefix ("10.0.0.1/8") are an error, not
// silently cleared. An IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) means its IPv4 network.
//
// X-Forwarded-For syntax accepted: comma-separated entries, spaces and tabs around each
// ignored. An entry is an IPv4 address, optionally with a port ("192.0.2.1", "192.0.2.1:5678"),
// or an IPv6 address, bare or in brackets, the bracketed form optionally with a port
// ("2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443"); a bare IPv6 address never has a port.
// Anything else does not parse: empty entries, "unknown", obfuscated names ("_hidden"), the
// RFC 7239 Forwarded syntax ("for=192.0.2.1"), zone indexes ("fe80::1%eth0"), hostnames.
// An absent, empty or blank header has no entries.
//
// Walk: start at the connection's peer; while the current hop is trusted, step one entry left
// in the header. The first untrusted hop is the client. An entry that does not parse stops the
// walk at the trusted hop that handed it over (garbage never skips the throttle, and a proxy's
// address is not one the client chooses). When every hop is trusted, the left-most one is it.
//
// Addresses are returned in canonical text, fit for a cast to inet: IPv4 dotted-quad, IPv6 as
// RFC 5952 (lowercase, compressed). IPv4-mapped IPv6 addresses (::ffff:192.0.2.1), in the
// header or as the peer, are their IPv4 address: one client, one throttle count, however its
// address was written; and so ::ffff:192.0.2.1 is trusted when 192.0.2.1/32 is.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace expense_ops::core::client_address {

// A connection without an address (a Unix socket) is local, and counts as this address.
inline constexpr std::string_view kLocalConnection = "127.0.0.1";

// The trusted proxies of a setting value, each in canonical form ("10.0.0.0/8", "::1/128").
// Throws RuleViolation 22023 naming the first entry that is not a network; useful to check a
// setting when it is set.
std::vector<std::string> parse_trusted_proxies(std::string_view setting);

// The address to throttle and record a request under.
//   forwarded_for       the X-Forwarded-For value PostgREST passed on; nullopt when absent
//   connection_address  the database connection's peer (inet_client_addr()); nullopt for a
//                       Unix socket. It must be an address: anything else throws RuleViolation
//                       22023, as that is a caller's mistake and not the client's.
//   trusted_proxies     the setting value, as parse_trusted_proxies() reads it (throws as it)
std::string resolve(std::optional<std::string_view> forwarded_for,
                    std::optional<std::string_view> connection_address,
                    std::string_view trusted_proxies);

}  // namespace expense_ops::core::client_address
