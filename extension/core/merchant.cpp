#include "core/merchant.hpp"

#include <cstdint>
#include <limits>

#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>
#include <unicode/utypes.h>

#include "core/error.hpp"

namespace expense_ops::core {

namespace {

constexpr UChar32 kReplacementCharacter = 0xFFFD;

// A combining mark belongs to the letter before it (a Devanagari vowel sign, an accent on a letter
// Unicode has no precomposed form for), so it must never split a word. U+FFFD stands for bytes
// that were not UTF-8: kept, so that they still tell names apart.
bool is_word_character(UChar32 code_point) {
  if (code_point == kReplacementCharacter) {
    return true;
  }
  constexpr std::uint32_t kLettersMarksNumbers = U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK;
  return (static_cast<std::uint32_t>(U_GET_GC_MASK(code_point)) & kLettersMarksNumbers) != 0;
}

[[noreturn]] void icu_failed(const char* what, UErrorCode status) {
  throw RuleViolation(sqlstate::kInternalError, std::string("merchant name: ICU failed to ") +
                                                    what + ": " + u_errorName(status));
}

}  // namespace

std::string normalize_merchant(std::string_view merchant) {
  if (merchant.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw RuleViolation(
        sqlstate::kInvalidParameterValue,
        "merchant: a name of " + std::to_string(merchant.size()) + " bytes is too long to compare",
        "Shorten the merchant name.");
  }
  // fromUTF8 replaces every ill-formed sequence by U+FFFD instead of failing.
  const icu::UnicodeString decoded = icu::UnicodeString::fromUTF8(
      icu::StringPiece(merchant.data(), static_cast<std::int32_t>(merchant.size())));
  if (decoded.isBogus()) {
    icu_failed("decode UTF-8", U_MEMORY_ALLOCATION_ERROR);
  }

  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* case_fold = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status)) {
    icu_failed("load NFKC case folding", status);
  }
  const icu::UnicodeString folded = case_fold->normalize(decoded, status);
  if (U_FAILURE(status)) {
    icu_failed("case-fold", status);
  }

  icu::UnicodeString words;
  bool separator_pending = false;
  for (std::int32_t index = 0; index < folded.length();) {
    const UChar32 code_point = folded.char32At(index);
    index += U16_LENGTH(code_point);
    if (!is_word_character(code_point)) {
      separator_pending = true;
      continue;
    }
    if (separator_pending && !words.isEmpty()) {
      words.append(static_cast<char16_t>(u' '));
    }
    separator_pending = false;
    words.append(code_point);
  }
  if (words.isBogus()) {
    icu_failed("build the result", U_MEMORY_ALLOCATION_ERROR);
  }

  std::string result;
  words.toUTF8String(result);
  return result;
}

}  // namespace expense_ops::core
