#include "cluster/gather_metrics.h"

#include <map>
#include <set>

namespace fp::cluster {
namespace {

struct Family {
  std::string help;
  std::string type;
  std::vector<std::string> samples;
};

// The metric name of "# HELP name ..." / "# TYPE name ...".
std::string_view NameAfter(std::string_view line, std::string_view prefix) {
  line.remove_prefix(prefix.size());
  return line.substr(0, line.find(' '));
}

}  // namespace

std::string WithNodeLabel(std::string_view line, std::string_view node) {
  const size_t brace = line.find('{');
  const size_t space = line.find(' ');
  std::string label = "node=\"" + std::string(node) + "\"";
  if (brace != std::string_view::npos && (space == std::string_view::npos || brace < space)) {
    const size_t close = line.find('}', brace);
    std::string_view labels = line.substr(
        brace + 1, close == std::string_view::npos ? std::string_view::npos : close - brace - 1);
    if (labels.starts_with("node=\"") || labels.find(",node=\"") != std::string_view::npos)
      return std::string(line);
    std::string out(line.substr(0, brace + 1));
    out += label;
    if (!labels.empty()) out += ',';
    out += line.substr(brace + 1);
    return out;
  }
  if (space == std::string_view::npos) return std::string(line);
  return std::string(line.substr(0, space)) + "{" + label + "}" + std::string(line.substr(space));
}

GatherResponse MergeMetrics(const GatherRequest& req, const std::vector<OwnerAnswer>& answers) {
  GatherResponse out;
  out.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::set<uint32_t> missing(req.unowned.begin(), req.unowned.end());
  std::vector<std::string> missing_nodes;
  std::vector<std::string> order;
  std::map<std::string, Family, std::less<>> families;
  bool any = false;
  for (const OwnerAnswer& a : answers) {
    if (!a.answered || a.status != 200) {
      if (a.answered && a.status >= 400 && a.status < 500) {
        out.status = a.status;
        out.content_type = a.content_type;
        out.body = a.body;
        return out;
      }
      missing.insert(a.partitions.begin(), a.partitions.end());
      missing_nodes.push_back(a.node);
      continue;
    }
    any = true;
    std::string current;
    std::string_view body = a.body;
    while (!body.empty()) {
      const size_t nl = body.find('\n');
      std::string_view line = body.substr(0, nl);
      body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
      if (line.empty()) continue;
      const bool help = line.starts_with("# HELP ");
      const bool type = line.starts_with("# TYPE ");
      if (help || type) {
        current = std::string(NameAfter(line, help ? "# HELP " : "# TYPE "));
        auto [it, added] = families.try_emplace(current);
        if (added) order.push_back(current);
        (help ? it->second.help : it->second.type) = std::string(line);
        continue;
      }
      if (line.starts_with('#')) continue;
      std::string_view name = line.substr(0, line.find_first_of("{ "));
      std::string family =
          !current.empty() && name.starts_with(current) ? current : std::string(name);
      auto [it, added] = families.try_emplace(family);
      if (added) order.push_back(family);
      it->second.samples.push_back(WithNodeLabel(line, a.node));
    }
  }
  out.missing.assign(missing.begin(), missing.end());
  if (!any) {
    out.status = 503;
    out.content_type = "application/json";
    out.body =
        R"({"error":{"code":"unavailable","message":"no node answered /metrics; retry shortly"}})";
    return out;
  }
  std::string& b = out.body;
  for (const std::string& name : order) {
    const Family& f = families.at(name);
    if (!f.help.empty()) b += f.help + '\n';
    if (!f.type.empty()) b += f.type + '\n';
    for (const std::string& s : f.samples) b += s + '\n';
  }
  b += "# HELP fleetpulse_cluster_gather_partial 1 when a node did not answer this gathered "
       "/metrics (its samples are missing).\n# TYPE fleetpulse_cluster_gather_partial gauge\n";
  b += "fleetpulse_cluster_gather_partial " + std::string(missing_nodes.empty() ? "0" : "1") + '\n';
  if (!missing_nodes.empty()) {
    b += "# HELP fleetpulse_cluster_gather_missing_node A node that did not answer this gathered "
         "/metrics.\n# TYPE fleetpulse_cluster_gather_missing_node gauge\n";
    for (const std::string& n : missing_nodes)
      b += "fleetpulse_cluster_gather_missing_node{node=\"" + n + "\"} 1\n";
  }
  return out;
}

}  // namespace fp::cluster
