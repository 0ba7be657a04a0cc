// Keeping connection secrets out of the log. libpq quotes the connection string back in some of
// its messages (a malformed URI is echoed whole, user:password@ included), and Boost quotes
// configuration lines; every message from them passes through here before it is logged.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace expense_ops::worker {

// Replaces the values of password-like keywords (password=..., sslpassword=..., quoted or not,
// with libpq's backslash escapes) and the password of URIs (scheme://user:password@host) with
// "***". It errs on the side of hiding too much: a line of log is no worse for a lost word, but
// a leaked password has to be rotated.
std::string redact_secrets(std::string_view text);

// Replaces the double-quoted fragments of a libpq message about a connection string with "...".
// Those fragments are pieces of the string, and a piece of a mistyped string may be a piece of
// its password (`password=se cret` -> missing "=" after "cret"), which no pattern can recognise.
// Single characters stay, being libpq's own punctuation (`"="`, `"]"`), and so do the fragments
// `may_show` allows, such as libpq's option names.
std::string withhold_quoted_text(
    std::string_view libpq_message,
    const std::function<bool(std::string_view fragment)>& may_show = nullptr);

}  // namespace expense_ops::worker
