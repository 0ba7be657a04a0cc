// The currency table against an independent copy of ISO 4217: Debian's iso-codes package
// (installed by scripts/install-deps.sh). iso-codes lists codes without minor units, so codes are
// compared, not exponents. Every difference is listed below with its reason; a difference not
// listed, or a listed one that is no longer a difference (iso-codes was updated), fails, so that
// each change of either side is looked at.
#include <gtest/gtest.h>

// Boost 1.74's JSON parser still includes the old boost/bind.hpp; this keeps its deprecation
// message out of the build log.
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>

#include "core/currency.hpp"

using expense_ops::core::find_currency;

namespace {

constexpr char kIsoCodesCurrencies[] = "/usr/share/iso-codes/json/iso_4217.json";

struct ListedDifference {
  std::string_view code;
  std::string_view reason;
};

// Accepted by the table, absent from iso-codes 4.15 (Debian 12), which predates them.
constexpr ListedDifference kAcceptedButNotInIsoCodes[] = {
    {"XAD", "Arab Accounting Dinar, a fund with minor unit 2: ISO 4217 amendment 179 (2025)"},
    {"XCG", "Caribbean guilder, in use since 2025-03-31: amendment 176"},
    {"ZWG", "Zimbabwe Gold: amendment 177 (2024)"},
};

// Listed by iso-codes, refused by the table.
constexpr ListedDifference kInIsoCodesButRefused[] = {
    {"CUC", "Cuban convertible peso, withdrawn (amendment 178)"},
    {"HRK", "Croatian kuna, withdrawn: Croatia adopted the euro on 2023-01-01"},
    {"SLL", "old Sierra Leonean leone, withdrawn: replaced by the redenominated SLE"},
    {"ZWL", "Zimbabwe dollar, withdrawn: replaced by ZWG (amendment 177)"},
    {"XAG", "silver: no minor unit"},
    {"XAU", "gold: no minor unit"},
    {"XPD", "palladium: no minor unit"},
    {"XPT", "platinum: no minor unit"},
    {"XBA", "bond markets unit (EURCO): no minor unit"},
    {"XBB", "bond markets unit (E.M.U.-6): no minor unit"},
    {"XBC", "bond markets unit (E.U.A.-9): no minor unit"},
    {"XBD", "bond markets unit (E.U.A.-17): no minor unit"},
    {"XDR", "the IMF's special drawing right: no minor unit"},
    {"XSU", "Sucre, a unit of account: no minor unit"},
    {"XUA", "ADB unit of account: no minor unit"},
    {"XTS", "reserved for testing: no minor unit"},
    {"XXX", "no currency involved: no minor unit"},
};

template <std::size_t N>
const ListedDifference* listed(const ListedDifference (&differences)[N], std::string_view code) {
  const auto it = std::find_if(std::begin(differences), std::end(differences),
                               [code](const ListedDifference& d) { return d.code == code; });
  return it == std::end(differences) ? nullptr : it;
}

// The table has no listing function; asking it about every possible code tests what it accepts,
// through the one function the extension uses.
std::set<std::string> codes_the_table_accepts() {
  std::set<std::string> accepted;
  std::string code = "AAA";
  for (code[0] = 'A'; code[0] <= 'Z'; ++code[0]) {
    for (code[1] = 'A'; code[1] <= 'Z'; ++code[1]) {
      for (code[2] = 'A'; code[2] <= 'Z'; ++code[2]) {
        if (find_currency(code)) {
          accepted.insert(code);
        }
      }
    }
  }
  return accepted;
}

}  // namespace

TEST(CurrencyTable, MatchesIsoCodesExceptForTheListedDifferences) {
  std::ifstream file(kIsoCodesCurrencies);
  ASSERT_TRUE(file.is_open()) << kIsoCodesCurrencies
                              << " is missing: install the Debian package iso-codes "
                                 "(scripts/install-deps.sh does). The currency table is checked "
                                 "against it; this test does not skip.";
  boost::property_tree::ptree document;
  try {
    boost::property_tree::read_json(file, document);
  } catch (const boost::property_tree::json_parser_error& error) {
    FAIL() << kIsoCodesCurrencies << " is not valid JSON: " << error.what();
  }
  const auto currencies = document.get_child_optional("4217");
  ASSERT_TRUE(currencies) << kIsoCodesCurrencies << " has no \"4217\" list";
  std::set<std::string> iso_codes;
  for (const auto& entry : *currencies) {
    iso_codes.insert(entry.second.get<std::string>("alpha_3", ""));
  }
  ASSERT_GT(iso_codes.size(), 150U)
      << kIsoCodesCurrencies << " lists too few currencies to compare";

  const std::set<std::string> accepted = codes_the_table_accepts();
  for (const std::string& code : accepted) {
    const bool in_iso_codes = iso_codes.count(code) > 0;
    const auto* difference = listed(kAcceptedButNotInIsoCodes, code);
    if (!in_iso_codes && !difference) {
      ADD_FAILURE() << code << " is accepted but iso-codes does not list it: check it against "
                    << "ISO 4217, then list it in kAcceptedButNotInIsoCodes with the reason";
    }
    if (in_iso_codes && difference) {
      ADD_FAILURE() << code << " is in iso-codes now: remove it from kAcceptedButNotInIsoCodes";
    }
  }
  for (const std::string& code : iso_codes) {
    const bool accepted_by_table = accepted.count(code) > 0;
    const auto* difference = listed(kInIsoCodesButRefused, code);
    if (!accepted_by_table && !difference) {
      ADD_FAILURE() << code << " is in iso-codes but refused: add it to the table, or list it "
                    << "in kInIsoCodesButRefused with the reason";
    }
    if (accepted_by_table && difference) {
      ADD_FAILURE() << code << " is accepted now: remove it from kInIsoCodesButRefused";
    }
  }
  for (const auto& difference : kAcceptedButNotInIsoCodes) {
    EXPECT_TRUE(accepted.count(std::string(difference.code)))
        << difference.code << " is listed as accepted (" << difference.reason << ") but is not";
  }
  for (const auto& difference : kInIsoCodesButRefused) {
    EXPECT_TRUE(iso_codes.count(std::string(difference.code)))
        << difference.code << " is listed as in iso-codes (" << difference.reason
        << ") but iso-codes no longer has it: remove it from kInIsoCodesButRefused";
  }
}
