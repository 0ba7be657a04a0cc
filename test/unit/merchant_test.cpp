#include "core/merchant.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <unicode/ustring.h>
#include <unicode/utypes.h>

using expense_ops::core::normalize_merchant;

namespace {

// Asks ICU, not a hand-written decoder, whether `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  int32_t needed = 0;
  u_strFromUTF8(nullptr, 0, &needed, text.data(), static_cast<int32_t>(text.size()), &status);
  return status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING ||
         U_SUCCESS(status);
}

// The U+FFFD REPLACEMENT CHARACTER, in UTF-8.
const std::string kReplacement = "\xEF\xBF\xBD";

}  // namespace

TEST(Merchant, IgnoresCasePunctuationAndSpacing) {
  EXPECT_EQ(normalize_merchant("  Uber  B.V. "), "uber b v");
  EXPECT_EQ(normalize_merchant("UBER-B.V."), "uber b v");
  EXPECT_EQ(normalize_merchant("Café Zürich, GmbH"), "café zürich gmbh");
  EXPECT_EQ(normalize_merchant("'; DROP TABLE x; --"), "drop table x");
  EXPECT_EQ(normalize_merchant("..."), "");
}

TEST(Merchant, FoldsCaseBeyondAscii) {
  EXPECT_EQ(normalize_merchant("Bäckerei Müller"), "bäckerei müller");
  EXPECT_EQ(normalize_merchant("BÄCKEREI MÜLLER"), "bäckerei müller");
  EXPECT_EQ(normalize_merchant("Café Zoë"), "café zoë");
  EXPECT_EQ(normalize_merchant("CAFÉ ZOË"), "café zoë");
  EXPECT_EQ(normalize_merchant("ΚΑΦΕΤΕΡΙΑ"), normalize_merchant("καφετερια"));
  EXPECT_EQ(normalize_merchant("МОСКВА"), "москва");
}

TEST(Merchant, SharpSFoldsToDoubleS) {
  EXPECT_EQ(normalize_merchant("Straße"), "strasse");
  EXPECT_EQ(normalize_merchant("STRASSE"), "strasse");
  EXPECT_EQ(normalize_merchant("strasse"), "strasse");
  EXPECT_EQ(normalize_merchant("STRA\u1E9EE"), "strasse");  // capital sharp s
}

TEST(Merchant, CompatibilityFormsFold) {
  EXPECT_EQ(normalize_merchant("\uFF21\uFF22\uFF23"), "abc");  // fullwidth ＡＢＣ
  EXPECT_EQ(normalize_merchant("\uFF33\uFF28\uFF2F\uFF30 \uFF11"), "shop 1");
  EXPECT_EQ(normalize_merchant("\uFB01ve Guys"), "five guys");  // the ﬁ ligature
}

TEST(Merchant, AccentsStayAndComposedEqualsDecomposed) {
  EXPECT_EQ(normalize_merchant("Cafe\u0301"), normalize_merchant("Café"));
  EXPECT_EQ(normalize_merchant("CAFE\u0301"), "café");
  // Documented choice: marks are not stripped, so these stay apart.
  EXPECT_NE(normalize_merchant("Café"), normalize_merchant("Cafe"));
  // A mark with no precomposed letter does not split its word.
  EXPECT_EQ(normalize_merchant("Q\u0307X"), "q\u0307x");
}

TEST(Merchant, NoBreakAndOtherUnicodeSpacesSeparateWords) {
  EXPECT_EQ(normalize_merchant("Uber\u00A0B.V."), "uber b v");
  EXPECT_EQ(normalize_merchant("Uber\u2003Eats\u3000Tokyo"), "uber eats tokyo");  // em, ideographic
  EXPECT_EQ(normalize_merchant("Uber\u202FEats"), "uber eats");  // narrow no-break space
}

TEST(Merchant, InvisibleCharactersVanishWithoutSplittingWords) {
  EXPECT_EQ(normalize_merchant("Uber\u200BEats"), "ubereats");  // zero-width space
  EXPECT_EQ(normalize_merchant("Uber \u200BEats"), "uber eats");
  EXPECT_EQ(normalize_merchant("\uFEFFUber Eats"), "uber eats");  // byte order mark
  EXPECT_EQ(normalize_merchant("Uber\uFEFF Eats\uFEFF"), "uber eats");
  EXPECT_EQ(normalize_merchant("Bäcke\u00ADrei Müller"), "bäckerei müller");  // soft hyphen
  EXPECT_EQ(normalize_merchant("Uber\u200DEats\u2060"), "ubereats");          // joiner, word joiner
}

TEST(Merchant, TabsNewlinesAndEdgesCollapse) {
  EXPECT_EQ(normalize_merchant("Uber\tEats\nB.V.\r\n"), "uber eats b v");
  EXPECT_EQ(normalize_merchant(" \t\n Uber Eats \r\n\t "), "uber eats");
  EXPECT_EQ(normalize_merchant("\u00A0\u3000Uber\u00A0\u2003"), "uber");
}

TEST(Merchant, NothingToCompareGivesTheEmptyString) {
  EXPECT_EQ(normalize_merchant(""), "");
  EXPECT_EQ(normalize_merchant("   "), "");
  EXPECT_EQ(normalize_merchant("\u200B\u00A0\uFEFF\u00AD\t\n"), "");
  EXPECT_EQ(normalize_merchant("-- !! ??"), "");
}

TEST(Merchant, SymbolsAndEmojiSeparateWords) {
  EXPECT_EQ(normalize_merchant("M&S"), "m s");
  EXPECT_EQ(normalize_merchant("Pizza \U0001F355 Hut"), "pizza hut");
  EXPECT_EQ(normalize_merchant("Pizza\U0001F355Hut"), "pizza hut");
}

TEST(Merchant, ScriptsWithoutCaseAreKept) {
  EXPECT_EQ(normalize_merchant("星巴克 咖啡"), "星巴克 咖啡");
  EXPECT_EQ(normalize_merchant("  सुपरमार्केट  "), "सुपरमार्केट");  // vowel signs are marks
}

TEST(Merchant, FoldingIsLocaleIndependent) {
  // Turkish dotted capital I folds the same everywhere: i followed by a combining dot above.
  EXPECT_EQ(normalize_merchant("\u0130STANBUL"), "i\u0307stanbul");
  EXPECT_EQ(normalize_merchant("ISTANBUL"), "istanbul");
}

TEST(Merchant, InvalidUtf8BecomesReplacementCharactersAndNeverThrows) {
  // Latin-1 bytes where UTF-8 was expected: kept as U+FFFD, never merged with the clean name.
  EXPECT_EQ(normalize_merchant("Caf\xE9 Zo\xEB"), "caf" + kReplacement + " zo" + kReplacement);
  EXPECT_NE(normalize_merchant("Caf\xE9"), normalize_merchant("Caf"));
  EXPECT_EQ(normalize_merchant("\xFF"), kReplacement);
  EXPECT_EQ(normalize_merchant("Uber \xE2\x82"), "uber " + kReplacement);  // truncated sequence

  const std::string broken_inputs[] = {
      "\xC3",                           // lead byte at the end
      "\xC0\xAF",                       // overlong slash
      "\xED\xA0\x80",                   // UTF-16 surrogate
      "\xF4\x90\x80\x80",               // beyond U+10FFFF
      "\x80\x80\x80",                   // continuation bytes alone
      std::string("A\0B", 3),           // NUL inside (never from PostgreSQL text, still safe)
      "\xFE\xFF Caf\xC3\xA9 \xC3\x28",  // mixed good and bad
  };
  for (const std::string& input : broken_inputs) {
    std::string normalized;
    EXPECT_NO_THROW(normalized = normalize_merchant(input)) << testing::PrintToString(input);
    EXPECT_TRUE(is_valid_utf8(normalized)) << testing::PrintToString(input);
  }
}

TEST(Merchant, IsIdempotent) {
  // An index key normalised again must not move.
  for (const char* name : {"Bäckerei Müller", "CAFÉ ZOË", "\uFF21\uFF22\uFF23", "Straße",
                           "Cafe\u0301", "Uber\u00A0B.V.", "\u0130STANBUL", "Caf\xE9"}) {
    const std::string once = normalize_merchant(name);
    EXPECT_EQ(normalize_merchant(once), once) << name;
  }
}
