#include "gateway/accounts/plans.h"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace imgpipe::gateway::accounts {

const Plan& TierConfig::plan(const std::string& name) const {
  auto it = plans.find(name);
  if (it != plans.end()) return it->second;
  return plans.at(default_plan);
}

TierConfig default_tiers() {
  TierConfig t;
  constexpr uint64_t MB = 1ull << 20, GB = 1ull << 30, TB = 1ull << 40;
  t.plans["free"] = {"free", 100, 5 * GB, 70 * MB};
  t.plans["pro"] = {"pro", 1000, 50 * GB, 70 * MB};
  t.plans["business"] = {"business", 10000, 500 * GB, 70 * MB};
  t.plans["enterprise"] = {"enterprise", 100000, 5 * TB, 70 * MB};
  return t;
}

TierConfig load_tiers(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read the plans file " + file.string());
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(file.string() + " is not a JSON object");
  TierConfig t = default_tiers();
  std::vector<std::string> problems;
  auto positive = [&](const nlohmann::json& obj, const char* field, auto& into, uint64_t unit) {
    auto it = obj.find(field);
    if (it == obj.end()) return;
    if (!it->is_number_integer() || it->template get<int64_t>() <= 0) {
      problems.push_back(std::string(field) + " must be a positive integer");
      return;
    }
    into = static_cast<std::remove_reference_t<decltype(into)>>(it->template get<int64_t>() * unit);
  };
  if (auto a = j.find("anonymous"); a != j.end() && a->is_object()) {
    positive(*a, "uploads_per_hour", t.anonymous.uploads_per_hour, 1);
    positive(*a, "uploads_per_day", t.anonymous.uploads_per_day, 1);
    positive(*a, "retention_days", t.anonymous.retention_days, 1);
  }
  positive(j, "unverified_retention_days", t.unverified_retention_days, 1);
  if (auto p = j.find("plans"); p != j.end()) {
    if (!p->is_object()) problems.push_back("plans must be an object of name -> limits");
    else
      for (auto& [name, limits] : p->items()) {
        Plan plan = t.plans.count(name) ? t.plans[name] : Plan{};
        plan.name = name;
        if (!limits.is_object()) {
          problems.push_back("plan " + name + " must be an object");
          continue;
        }
        positive(limits, "uploads_per_month", plan.uploads_per_month, 1);
        positive(limits, "storage_mb", plan.storage_bytes, 1ull << 20);
        positive(limits, "max_file_mb", plan.max_file_bytes, 1ull << 20);
        t.plans[name] = plan;
      }
  }
  if (auto d = j.find("default_plan"); d != j.end() && d->is_string()) t.default_plan = d->get<std::string>();
  if (!t.plans.count(t.default_plan)) problems.push_back("default_plan names no plan");
  if (!problems.empty()) {
    std::string all = file.string() + ":";
    for (const auto& p : problems) all += " " + p + ";";
    throw std::runtime_error(all);
  }
  return t;
}

}  // namespace imgpipe::gateway::accounts
