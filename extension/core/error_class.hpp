// Error categories of the support plan's error tracking: each error a client, the worker or an
// alert reports is counted under one of five categories, from its SQLSTATE or its HTTP status.
//
// classify_error is total: every input, nonsense included, gets a category, and it never throws.
// A SQLSTATE decides when one is given and well-formed (five characters of [0-9A-Z]); it decides
// alone, so an HTTP status next to it is not consulted, even when the SQLSTATE matches no row
// (then: unknown). A missing or malformed SQLSTATE leaves the decision to the HTTP status. When
// several SQLSTATE rows match, the most specific one (longest prefix) wins, so 42501 is
// authentication although class 42 is database.
//
// | category       | SQLSTATE                                    | HTTP status, when no SQLSTATE |
// |----------------|---------------------------------------------|-------------------------------|
// | authentication | class 28; 42501, PT401, PT403               | 401, 403                      |
// | validation     | classes 22, 23; PT4xx except PT401, PT403   | 4xx except 401, 403, 408, 429 |
// | database       | classes 08, 0A, 25, 38, 39, 3D, 3F, 40, 42  | 503                           |
// |                | (but not 42501), 53, 54, 55, 57, 58, P0, XX |                               |
// | external       | class HV; PT502, PT503, PT504               | 408, 429, 502, 504            |
// | unknown        | any other well-formed SQLSTATE              | any other status, or none     |
//
// PTxyz is PostgREST's way of choosing the HTTP status xyz from SQL; a 4xx chosen so is the
// caller's mistake, while a 5xx in the 502-504 range blames something beyond the database.
// P0 is PL/pgSQL's class: a RAISE EXCEPTION without ERRCODE is P0001.
#pragma once

#include <optional>
#include <string_view>

namespace expense_ops::core {

enum class ErrorCategory { kAuthentication, kValidation, kDatabase, kExternal, kUnknown };

// "authentication", "validation", "database", "external", "unknown".
std::string_view to_string(ErrorCategory category);

ErrorCategory classify_error(std::optional<std::string_view> sqlstate,
                             std::optional<int> http_status) noexcept;

}  // namespace expense_ops::core
