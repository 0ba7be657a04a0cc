// Merchant names as duplicate detection compares them.
#pragma once

#include <string>
#include <string_view>

namespace expense_ops::core {

// The key under which two spellings of one merchant meet: "Bäckerei  Müller GmbH" and
// "BÄCKEREI MÜLLER, GMBH" both become "bäckerei müller gmbh".
//
//  - Unicode case and compatibility forms fold away: NFKC_Casefold, so ß and ẞ match "ss",
//    fullwidth ＡＢＣ matches "abc", the ligature ﬁ matches "fi", a no-break space is a space.
//    Folding is locale-independent: Turkish İ becomes "i̇" (i and a combining dot), not "i".
//  - Invisible characters vanish without splitting a word: zero-width space, byte order mark,
//    soft hyphen and the other default-ignorable code points ("Bäcke\u00ADrei" is "bäckerei").
//  - Words are runs of letters, combining marks and numbers; everything else (spaces, tabs,
//    line breaks, punctuation, symbols, emoji) separates them. The result is the words joined
//    by single spaces, with nothing leading or trailing; no word at all gives "".
//  - Accents are kept, composed: "Cafe\u0301" matches "Café", but "Café" does not match "Cafe".
//    Whether a mark can be dropped depends on the language (German ü stands for "ue", not "u"),
//    and a missed duplicate costs less than two merchants merged by a guess.
//  - Ill-formed UTF-8 never throws: each bad sequence becomes U+FFFD, which counts as a letter so
//    that a mangled name neither vanishes nor meets a clean one. The result is always valid UTF-8.
//
// Deterministic for a given ICU version, as the IMMUTABLE SQL function expense.normalize_merchant
// and the duplicate index built on it require. A new ICU brings new Unicode data (new letters,
// changed foldings): after upgrading libicu, REINDEX every index on expense.normalize_merchant.
//
// Throws RuleViolation only when ICU itself fails (its data missing, memory exhausted), or for an
// input over 2 GiB, which PostgreSQL text (1 GB at most) never is.
std::string normalize_merchant(std::string_view merchant);

}  // namespace expense_ops::core
