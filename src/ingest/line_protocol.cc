#include "ingest/line_protocol.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>

#include "model/device.h"

namespace fp {
namespace {

constexpr uint32_t kNoMetric = std::numeric_limits<uint32_t>::max();

using CharSet = std::array<bool, 256>;

constexpr CharSet make_set(std::string_view chars) {
  CharSet s{};
  for (char c : chars) s[static_cast<unsigned char>(c)] = true;
  return s;
}

// Where a token of each kind ends. A backslash is in every escapable set so the fast scan
// stops there and hands over to the escape-aware one.
constexpr CharSet kMeasurementEnd = make_set(", \n\r\\");
constexpr CharSet kTagKeyEnd = make_set("=, \n\r\\");
constexpr CharSet kTagValueEnd = make_set(", \n\r\\");
constexpr CharSet kFieldKeyEnd = make_set("=, \n\r\\");
constexpr CharSet kValueEnd = make_set(", \n\r");
constexpr CharSet kTimestampEnd = make_set(" \n\r");
// What a backslash escapes in names and tag values ("\\" included, as InfluxDB 2 documents).
constexpr CharSet kEscapable = make_set(", =\"\\");

// t, T, true, True, TRUE -> 1; f, F, false, False, FALSE -> 0; anything else -> nullopt.
std::optional<double> bool_value(std::string_view v) {
  if (v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE") return 1.0;
  if (v == "f" || v == "F" || v == "false" || v == "False" || v == "FALSE") return 0.0;
  return std::nullopt;
}

// Decodes one body. Per line, parsing fills `fields_` and `tags_` with views into the body
// (or, for tokens with escapes, into `unescaped_`); only a line that proved valid reaches the
// batch. The previous line's measurement, field keys and device are remembered with their
// interned ids, so a run of lines of the same shape costs one string compare per name instead
// of a hash lookup.
class LineDecoder {
 public:
  LineDecoder(std::string_view body, const LineProtocolOptions& opt, int64_t now_ms,
              ReadingBatch& out, std::vector<ItemError>& errors)
      : begin_(body.data()),
        end_(body.data() + body.size()),
        opt_(opt),
        now_ms_(now_ms),
        out_(out),
        errors_(errors),
        utf8_ok_(simdjson::validate_utf8(body.data(), body.size())) {}

  // Returns the number of data lines (those neither blank nor comments).
  size_t run();

 private:
  struct Field {
    std::string_view key;
    std::string_view text;  // string fields
    double value;           // other fields
    bool is_string;
    uint32_t metric;  // kNoMetric until resolved
  };
  struct Tag {
    std::string_view key;
    std::string_view value;
  };
  struct CachedField {
    std::string key;
    uint32_t metric;  // kNoMetric for a string field
  };

  bool parse_line(const char*& p);
  bool commit_line(const char* line_begin, const char* line_end);
  std::string_view scan(const char*& p, const CharSet& end);
  std::string_view scan_escaped(const char* start, const char*& p, const CharSet& end);
  bool scan_string(const char*& p, std::string_view key, std::string_view& out);
  bool parse_value(std::string_view key, std::string_view v, double& out);
  std::string& scratch();
  void compose_name(std::string_view field);
  bool at_eol(const char* p) const {
    return p == end_ || *p == '\n' || (*p == '\r' && (p + 1 == end_ || p[1] == '\n'));
  }
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  const char* const begin_;
  const char* const end_;
  const LineProtocolOptions& opt_;
  const int64_t now_ms_;
  ReadingBatch& out_;
  std::vector<ItemError>& errors_;
  const bool utf8_ok_;  // the whole body is valid UTF-8: no per-line check needed
  size_t line_ = 0;     // current 0-based line number

  // The line being parsed.
  std::string_view measurement_;
  std::string_view tag_section_;  // raw ",k=v,..." text, for the attribute dedupe
  std::vector<Tag> tags_;
  int device_tag_ = -1;  // index into tags_
  int device_rank_ = 0;  // index into opt_.device_tags
  std::vector<Field> fields_;
  int64_t ts_ms_ = 0;
  bool has_ts_ = false;  // the line carries a timestamp
  std::string error_;
  std::deque<std::string> unescaped_;  // stable addresses; reused line after line
  size_t unescaped_used_ = 0;
  std::string name_;                          // a composed metric name
  std::vector<std::string> names_;            // the line's metric names, for the admission
  std::vector<std::string_view> name_views_;  // ... as views

  // The previous valid line.
  std::string prev_measurement_;
  std::vector<CachedField> prev_fields_;
  std::string prev_device_;
  uint32_t prev_device_id_ = kNoMetric;
  std::vector<size_t> tag_hash_by_device_;  // 0 = no tags seen yet
};

size_t LineDecoder::run() {
  // One point per ~32 body bytes is about what Telegraf and TSBS lines carry.
  const size_t want = out_.points().size() + static_cast<size_t>(end_ - begin_) / 32;
  if (want > out_.points().capacity()) out_.reserve(std::max(want, out_.points().capacity() * 2));

  size_t data_lines = 0;
  const char* p = begin_;
  while (p < end_) {
    while (p < end_ && (*p == ' ' || *p == '\t')) ++p;
    if (at_eol(p) || *p == '#') {  // blank line or comment
      const void* nl = p == end_ ? nullptr : std::memchr(p, '\n', static_cast<size_t>(end_ - p));
      p = nl ? static_cast<const char*>(nl) + 1 : end_;
      ++line_;
      continue;
    }
    ++data_lines;
    const size_t first_line = line_;
    const char* line_begin = p;
    if (parse_line(p) && commit_line(line_begin, p)) {
      if (p < end_ && *p == '\r') ++p;
      if (p < end_ && *p == '\n') ++p;
    } else {
      errors_.push_back({first_line, std::move(error_)});
      error_.clear();
      const void* nl = p == end_ ? nullptr : std::memchr(p, '\n', static_cast<size_t>(end_ - p));
      p = nl ? static_cast<const char*>(nl) + 1 : end_;
    }
    ++line_;
  }
  return data_lines;
}

std::string& LineDecoder::scratch() {
  if (unescaped_used_ == unescaped_.size()) unescaped_.emplace_back();
  std::string& s = unescaped_[unescaped_used_++];
  s.clear();
  return s;
}

// Scans a name or tag value up to an unescaped character of `end` (or the end of the body).
std::string_view LineDecoder::scan(const char*& p, const CharSet& end) {
  const char* start = p;
  while (p < end_ && !end[static_cast<unsigned char>(*p)]) ++p;
  if (p < end_ && *p == '\\') return scan_escaped(start, p, end);
  return {start, static_cast<size_t>(p - start)};
}

std::string_view LineDecoder::scan_escaped(const char* start, const char*& p, const CharSet& end) {
  std::string& s = scratch();
  s.assign(start, p);
  while (p < end_) {
    const char c = *p;
    if (c == '\\') {
      if (p + 1 < end_ && kEscapable[static_cast<unsigned char>(p[1])]) {
        s += p[1];
        p += 2;
      } else {
        s += '\\';  // not an escape: a literal backslash, as InfluxDB keeps it
        ++p;
      }
      continue;
    }
    if (end[static_cast<unsigned char>(c)]) break;
    s += c;
    ++p;
  }
  return s;
}

// A string field value; `p` is at the opening quote. Newlines inside are part of the value.
bool LineDecoder::scan_string(const char*& p, std::string_view key, std::string_view& out) {
  const char* start = ++p;
  while (p < end_ && *p != '"' && *p != '\\') {
    if (*p == '\n') ++line_;
    ++p;
  }
  if (p < end_ && *p == '"') {
    out = {start, static_cast<size_t>(p - start)};
    ++p;
    return true;
  }
  std::string& s = scratch();
  s.assign(start, p);
  while (p < end_ && *p != '"') {
    if (*p == '\\' && p + 1 < end_ && (p[1] == '"' || p[1] == '\\')) {
      s += p[1];
      p += 2;
      continue;
    }
    if (*p == '\n') ++line_;
    s += *p++;
  }
  if (p == end_)
    return fail(fmt::format("string field {} has no closing quote", name_for_message(key)));
  ++p;
  out = s;
  return true;
}

bool LineDecoder::parse_value(std::string_view key, std::string_view v, double& out) {
  const char* first = v.data();
  const char* last = v.data() + v.size();
  const char suffix = v.back();
  if (suffix == 'i' || suffix == 'u') {
    std::from_chars_result r;
    if (suffix == 'i') {
      int64_t n = 0;
      r = std::from_chars(first, last - 1, n);
      out = static_cast<double>(n);
    } else {
      uint64_t n = 0;
      r = std::from_chars(first, last - 1, n);
      out = static_cast<double>(n);
    }
    if (r.ec == std::errc() && r.ptr == last - 1) return true;
    return fail(fmt::format("field {}: {} is not a valid {} integer", name_for_message(key),
                            quote_for_message(v), suffix == 'i' ? "64-bit" : "unsigned 64-bit"));
  }
  if (const char c = v.front(); c == 't' || c == 'T' || c == 'f' || c == 'F') {
    if (auto b = bool_value(v)) {
      out = *b;
      return true;
    }
  }
  const auto r = std::from_chars(first, last, out);
  if (r.ec == std::errc() && r.ptr == last && std::isfinite(out)) return true;
  return fail(
      fmt::format("field {}: {} is not a valid value (expected a float, an integer such as 1i, an "
                  "unsigned such as 1u, a boolean or a \"string\")",
                  name_for_message(key), quote_for_message(v)));
}

bool LineDecoder::parse_line(const char*& p) {
  unescaped_used_ = 0;
  tags_.clear();
  fields_.clear();
  device_tag_ = -1;

  measurement_ = scan(p, kMeasurementEnd);
  if (measurement_.empty()) return fail("line has no measurement");

  // Tags.
  const char* tags_begin = p;
  while (p < end_ && *p == ',') {
    ++p;
    const std::string_view key = scan(p, kTagKeyEnd);
    if (p == end_ || *p != '=')
      return fail(key.empty() ? std::string("empty tag key")
                              : fmt::format("tag {} has no value", name_for_message(key)));
    if (key.empty()) return fail("empty tag key");
    ++p;
    const std::string_view value = scan(p, kTagValueEnd);
    if (value.empty()) return fail(fmt::format("tag {} has no value", name_for_message(key)));
    for (size_t r = 0; r < opt_.device_tags.size(); ++r) {
      if (key == opt_.device_tags[r]) {
        if (device_tag_ < 0 || static_cast<int>(r) < device_rank_) {
          device_tag_ = static_cast<int>(tags_.size());
          device_rank_ = static_cast<int>(r);
        }
        break;
      }
    }
    tags_.push_back({key, value});
  }
  tag_section_ = {tags_begin, static_cast<size_t>(p - tags_begin)};

  // Fields.
  if (at_eol(p)) return fail("line has no fields");
  if (*p != ' ') return fail("unexpected carriage return in the measurement or tags");
  while (p < end_ && *p == ' ') ++p;
  if (at_eol(p)) return fail("line has no fields");
  for (;;) {
    const std::string_view key = scan(p, kFieldKeyEnd);
    if (p == end_ || *p != '=')
      return fail(key.empty() ? std::string("missing field key")
                              : fmt::format("field {} has no value", name_for_message(key)));
    if (key.empty()) return fail("empty field key");
    ++p;
    Field f{key, {}, 0, false, kNoMetric};
    if (p < end_ && *p == '"') {
      f.is_string = true;
      if (!scan_string(p, key, f.text)) return false;
    } else {
      const char* v = p;
      while (p < end_ && !kValueEnd[static_cast<unsigned char>(*p)]) ++p;
      if (p == v) return fail(fmt::format("field {} has no value", name_for_message(key)));
      if (!parse_value(key, {v, static_cast<size_t>(p - v)}, f.value)) return false;
    }
    fields_.push_back(f);
    if (p < end_ && *p == ',') {
      ++p;
      continue;
    }
    break;
  }

  // Timestamp.
  ts_ms_ = now_ms_;
  has_ts_ = false;
  if (at_eol(p)) return true;
  if (*p != ' ')
    return fail(
        fmt::format("unexpected character after field {}", name_for_message(fields_.back().key)));
  while (p < end_ && *p == ' ') ++p;
  if (at_eol(p)) return true;
  const char* t = p;
  while (p < end_ && !kTimestampEnd[static_cast<unsigned char>(*p)]) ++p;
  const std::string_view ts{t, static_cast<size_t>(p - t)};
  int64_t n = 0;
  const auto r = std::from_chars(ts.data(), ts.data() + ts.size(), n);
  if (r.ptr != ts.data() + ts.size() ||
      (r.ec != std::errc() && r.ec != std::errc::result_out_of_range))
    return fail(fmt::format("timestamp {} is not an integer", quote_for_message(ts)));
  const auto ms = r.ec == std::errc() ? checked_epoch_ms(n, opt_.precision) : std::nullopt;
  if (!ms)
    return fail(fmt::format(
        "timestamp {} is out of range: times must lie between 1970-01-01 and 2262-04-11",
        quote_for_message(ts)));
  ts_ms_ = *ms;
  has_ts_ = true;
  while (p < end_ && *p == ' ') ++p;
  if (!at_eol(p)) return fail("unexpected text after the timestamp");
  return true;
}

void LineDecoder::compose_name(std::string_view field) {
  name_.clear();
  if (opt_.prefix_measurement) name_.append(measurement_).push_back('.');
  name_.append(field);
}

bool LineDecoder::commit_line(const char* line_begin, const char* line_end) {
  // Validate everything before touching the batch.
  if (device_tag_ < 0) {
    std::string expected;
    for (const std::string& t : opt_.device_tags) expected += (expected.empty() ? "" : ", ") + t;
    return fail(fmt::format("no device tag (expected one of: {})", expected));
  }
  if (!utf8_ok_ && !simdjson::validate_utf8(line_begin, static_cast<size_t>(line_end - line_begin)))
    return fail("line is not valid UTF-8");
  const Tag& device_tag = tags_[static_cast<size_t>(device_tag_)];
  const bool same_device = prev_device_id_ != kNoMetric && device_tag.value == prev_device_;
  if (!same_device) {
    if (auto e = validate_device_id(device_tag.value); !e.empty())
      return fail(fmt::format("tag {}: {}", name_for_message(device_tag.key), e));
  }
  const bool same_measurement = !prev_fields_.empty() && measurement_ == prev_measurement_;
  for (size_t i = 0; i < fields_.size(); ++i) {
    Field& f = fields_[i];
    if (same_measurement && !f.is_string && i < prev_fields_.size() &&
        prev_fields_[i].metric != kNoMetric && prev_fields_[i].key == f.key) {
      f.metric = prev_fields_[i].metric;
      continue;
    }
    compose_name(f.key);
    if (auto e = validate_metric_name(name_); !e.empty())
      return fail(fmt::format("field {}: {}", name_for_message(f.key), e));
  }

  for (const Field& f : fields_)
    if (f.is_string && f.text.size() > kMaxAttributeValueBytes)
      return fail(fmt::format("field {} is longer than {} bytes", name_for_message(f.key),
                              kMaxAttributeValueBytes));
  if (opt_.tags_as_attributes)
    for (const Tag& t : tags_)
      if (t.value.size() > kMaxAttributeValueBytes)
        return fail(fmt::format("tag {} is longer than {} bytes", name_for_message(t.key),
                                kMaxAttributeValueBytes));

  // Cardinality limits: a line of the previous line's device whose metrics all came from that
  // line was admitted with it.
  bool cached = same_device;
  for (const Field& f : fields_) cached = cached && (f.is_string || f.metric != kNoMetric);
  if (opt_.admission && !cached) {
    names_.clear();
    for (const Field& f : fields_) {
      if (f.is_string) continue;
      compose_name(f.key);
      names_.push_back(name_);
    }
    name_views_.assign(names_.begin(), names_.end());
    if (auto e = opt_.admission->admit(out_, device_tag.value, name_views_); !e.empty())
      return fail(std::move(e));
  }

  // Add the line.
  const uint32_t device = same_device ? prev_device_id_ : out_.intern_device(device_tag.value);
  for (Field& f : fields_) {
    if (f.is_string) {
      compose_name(f.key);
      out_.add_attribute(device, name_, std::string(f.text), ts_ms_);
      continue;
    }
    if (f.metric == kNoMetric) {
      compose_name(f.key);
      f.metric = out_.intern_metric(name_);
    }
    if (has_ts_)
      out_.add(device, f.metric, ts_ms_, f.value);
    else
      out_.add_unstamped(device, f.metric, ts_ms_, f.value);
  }
  if (opt_.tags_as_attributes && tags_.size() > 1) {
    if (tag_hash_by_device_.size() <= device) tag_hash_by_device_.resize(device + 1, 0);
    const size_t hash = std::hash<std::string_view>{}(tag_section_) | 1;
    if (tag_hash_by_device_[device] != hash) {
      tag_hash_by_device_[device] = hash;
      for (size_t i = 0; i < tags_.size(); ++i) {
        if (static_cast<int>(i) == device_tag_) continue;
        std::string key;
        key.reserve(4 + tags_[i].key.size());
        key.append("tag.").append(tags_[i].key);
        out_.add_attribute(device, std::move(key), std::string(tags_[i].value), ts_ms_);
      }
    }
  }

  // Remember this line's shape for the next one.
  if (!same_device) {
    prev_device_.assign(device_tag.value);
    prev_device_id_ = device;
  }
  if (!same_measurement) prev_measurement_.assign(measurement_);
  prev_fields_.resize(fields_.size());
  for (size_t i = 0; i < fields_.size(); ++i) {
    CachedField& c = prev_fields_[i];
    if (c.key != fields_[i].key) c.key.assign(fields_[i].key);
    c.metric = fields_[i].metric;  // kNoMetric for string fields
  }
  return true;
}

}  // namespace

void decode_line_protocol(std::string_view body, const LineProtocolOptions& opt, int64_t now_ms,
                          ReadingBatch& out, std::vector<ItemError>& errors, size_t* lines) {
  const size_t n = LineDecoder(body, opt, now_ms, out, errors).run();
  if (lines) *lines = n;
}

}  // namespace fp
