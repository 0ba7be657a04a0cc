// A label set, as Prometheus and Alertmanager have them: names to values, kept sorted by name.
#pragma once

#include <map>
#include <string>

namespace expense_ops::core {

using Labels = std::map<std::string, std::string>;

}  // namespace expense_ops::core
