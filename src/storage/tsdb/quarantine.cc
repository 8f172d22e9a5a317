#include "storage/tsdb/quarantine.h"

#include <algorithm>
#include <charconv>

#include "storage/tsdb/store_files.h"

namespace fp::tsdb {
namespace {

constexpr std::string_view kNoteSuffix = ".damage";
constexpr std::string_view kAckSuffix = ".acknowledged";

std::string field(const std::string& s) {
  if (s.empty() || s.find_first_of("\t\n") != std::string::npos) return "*";
  return s;
}

std::string encode(const DamageNote& n) {
  std::string out = n.what;
  std::replace(out.begin(), out.end(), '\n', ' ');
  out += '\n';
  for (const LostRange& r : n.lost)
    out += "lost\t" + field(r.device) + "\t" + field(r.metric) + "\t" + std::to_string(r.start) +
           "\t" + std::to_string(r.end) + "\n";
  return out;
}

bool parse_i64(std::string_view s, int64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

DamageNote decode(std::string name, std::string_view text, bool acknowledged) {
  DamageNote n;
  n.name = std::move(name);
  n.acknowledged = acknowledged;
  size_t nl = text.find('\n');
  n.what = std::string(text.substr(0, nl));
  while (nl != std::string_view::npos) {
    text.remove_prefix(nl + 1);
    nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    std::vector<std::string_view> parts;
    for (size_t tab; (tab = line.find('\t')) != std::string_view::npos;) {
      parts.push_back(line.substr(0, tab));
      line.remove_prefix(tab + 1);
    }
    parts.push_back(line);
    LostRange r;
    if (parts.size() != 5 || parts[0] != "lost" || !parse_i64(parts[3], &r.start) ||
        !parse_i64(parts[4], &r.end))
      continue;
    if (parts[1] != "*") r.device = std::string(parts[1]);
    if (parts[2] != "*") r.metric = std::string(parts[2]);
    n.lost.push_back(std::move(r));
  }
  if (n.what.empty()) n.what = "damaged (no description)";
  return n;
}

}  // namespace

Status Quarantine::load() {
  std::lock_guard lock(mu_);
  const LostFlagUpdate update_flag{this};
  notes_.clear();
  if (!fs_.exists(dir_)) return Status::Ok();
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list_dir(dir_));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const bool note = name.ends_with(kNoteSuffix);
    const bool ack = name.ends_with(kAckSuffix);
    if (name.ends_with(".tmp")) continue;
    if (!note && !ack) continue;
    const std::string subject =
        name.substr(0, name.size() - (note ? kNoteSuffix.size() : kAckSuffix.size()));
    auto text = fs_.read_file(join_path(dir_, name));
    notes_.push_back(decode(subject, text.ok() ? std::string_view(*text) : "", ack));
  }
  // A file moved in by a crash that came before its note was written: note it now.
  for (const std::string& name : names) {
    if (name.ends_with(kNoteSuffix) || name.ends_with(kAckSuffix) || name.ends_with(".tmp"))
      continue;
    const bool noted = std::any_of(notes_.begin(), notes_.end(),
                                   [&](const DamageNote& n) { return n.name == name; });
    if (noted) continue;
    DamageNote n{name, "found in quarantine without a note", {LostRange{}}, false};
    if (Status s = write_note(n); !s.ok()) return s;
    notes_.push_back(std::move(n));
  }
  return Status::Ok();
}

Quarantine::LostFlagUpdate::~LostFlagUpdate() {
  q->may_have_lost_.store(
      std::any_of(q->notes_.begin(), q->notes_.end(),
                  [](const DamageNote& n) { return !n.acknowledged && !n.lost.empty(); }),
      std::memory_order_release);
}

Status Quarantine::write_note(const DamageNote& n) {
  FP_RETURN_IF_ERROR(fs_.create_dir(dir_));
  return write_file_atomically(fs_, dir_, n.name + std::string(kNoteSuffix), encode(n));
}

Status Quarantine::move_in(const std::string& path, std::string what, std::vector<LostRange> lost) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  std::lock_guard lock(mu_);
  const LostFlagUpdate update_flag{this};
  FP_RETURN_IF_ERROR(fs_.create_dir(dir_));
  FP_RETURN_IF_ERROR(fs_.rename(path, join_path(dir_, name)));
  FP_RETURN_IF_ERROR(fs_.sync_dir(dir_));
  FP_RETURN_IF_ERROR(fs_.sync_dir(path.substr(0, path.find_last_of('/'))));
  std::erase_if(notes_, [&](const DamageNote& n) { return n.name == name; });
  DamageNote n{name, std::move(what), std::move(lost), false};
  FP_RETURN_IF_ERROR(write_note(n));
  notes_.push_back(std::move(n));
  return Status::Ok();
}

Status Quarantine::copy_in(const std::string& path, std::string what, std::vector<LostRange> lost) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  std::lock_guard lock(mu_);
  const LostFlagUpdate update_flag{this};
  if (fs_.exists(join_path(dir_, name))) return Status::Ok();  // kept at an earlier start
  FP_RETURN_IF_ERROR(fs_.create_dir(dir_));
  FP_ASSIGN_OR_RETURN(std::string bytes, fs_.read_file(path));
  FP_RETURN_IF_ERROR(write_file_atomically(fs_, dir_, name, bytes));
  DamageNote n{name, std::move(what), std::move(lost), false};
  FP_RETURN_IF_ERROR(write_note(n));
  notes_.push_back(std::move(n));
  return Status::Ok();
}

Status Quarantine::note(const std::string& name, std::string what, std::vector<LostRange> lost) {
  std::lock_guard lock(mu_);
  const LostFlagUpdate update_flag{this};
  DamageNote n{name, std::move(what), std::move(lost), false};
  FP_RETURN_IF_ERROR(write_note(n));
  std::erase_if(notes_, [&](const DamageNote& o) { return o.name == name; });
  notes_.push_back(std::move(n));
  return Status::Ok();
}

bool Quarantine::has(const std::string& name) const {
  std::lock_guard lock(mu_);
  return std::any_of(notes_.begin(), notes_.end(),
                     [&](const DamageNote& n) { return n.name == name; });
}

Result<size_t> Quarantine::acknowledge_all() {
  std::lock_guard lock(mu_);
  const LostFlagUpdate update_flag{this};
  size_t done = 0;
  for (DamageNote& n : notes_) {
    if (n.acknowledged) continue;
    FP_RETURN_IF_ERROR(fs_.rename(join_path(dir_, n.name + std::string(kNoteSuffix)),
                                  join_path(dir_, n.name + std::string(kAckSuffix))));
    n.acknowledged = true;
    ++done;
  }
  if (done > 0) FP_RETURN_IF_ERROR(fs_.sync_dir(dir_));
  return done;
}

std::vector<DamageNote> Quarantine::notes() const {
  std::lock_guard lock(mu_);
  return notes_;
}

size_t Quarantine::unacknowledged() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(notes_.begin(), notes_.end(),
                                           [](const DamageNote& n) { return !n.acknowledged; }));
}

size_t Quarantine::files() const {
  std::lock_guard lock(mu_);
  auto names = fs_.list_dir(dir_);
  if (!names.ok()) return 0;
  return static_cast<size_t>(std::count_if(names->begin(), names->end(), [](const auto& n) {
    return !n.ends_with(kNoteSuffix) && !n.ends_with(kAckSuffix) && !n.ends_with(".tmp");
  }));
}

std::string Quarantine::lost_reason(std::string_view device, std::string_view metric, int64_t start,
                                    int64_t end) const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const DamageNote& n : notes_) {
    if (n.acknowledged) continue;
    const bool hit = std::any_of(n.lost.begin(), n.lost.end(), [&](const LostRange& r) {
      return (r.device.empty() || device.empty() || r.device == device) &&
             (r.metric.empty() || metric.empty() || r.metric == metric) && r.start <= end &&
             r.end >= start;
    });
    if (hit) out += (out.empty() ? "" : "; ") + n.what;
  }
  return out;
}

}  // namespace fp::tsdb
