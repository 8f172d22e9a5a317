#include "http/gzip_encoder.h"

#include <algorithm>
#include <new>
#include <stdexcept>

namespace fp::http {

bool accepts_gzip(std::string_view v) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    std::string_view params;
    if (const size_t semi = item.find(';'); semi != std::string_view::npos) {
      params = item.substr(semi + 1);
      item = item.substr(0, semi);
    }
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
      return s;
    };
    item = trim(item);
    if (item.size() != 4 || (item[0] | 0x20) != 'g' || (item[1] | 0x20) != 'z' ||
        (item[2] | 0x20) != 'i' || (item[3] | 0x20) != 'p')
      continue;
    params = trim(params);
    // "q=0", "q=0.0", "q=0.000": refused; any other weight accepts.
    if (params.size() >= 3 && (params[0] | 0x20) == 'q' && params[1] == '=' &&
        params.substr(2).find_first_not_of("0.") == std::string_view::npos)
      return false;
    return true;
  }
  return false;
}

GzipEncoder::GzipEncoder(std::string& out) : out_(out) {
  // 16 + MAX_WBITS: a gzip wrapper; memLevel 8 is zlib's default.
  if (deflateInit2(&zs_, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::bad_alloc();
}

GzipEncoder::~GzipEncoder() {
  deflateEnd(&zs_);
}

void GzipEncoder::add(std::string_view data) {
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs_.avail_in = static_cast<uInt>(data.size());
  deflate_all(Z_NO_FLUSH);
}

void GzipEncoder::finish() {
  zs_.next_in = nullptr;
  zs_.avail_in = 0;
  deflate_all(Z_FINISH);
}

void GzipEncoder::deflate_all(int flush) {
  for (;;) {
    const size_t before = out_.size();
    const size_t room = std::max<size_t>(deflateBound(&zs_, zs_.avail_in), 16 * 1024);
    out_.resize(before + room);
    zs_.next_out = reinterpret_cast<Bytef*>(out_.data() + before);
    zs_.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&zs_, flush);
    out_.resize(before + (room - zs_.avail_out));
    if (rc == Z_STREAM_END) return;
    if (flush == Z_NO_FLUSH && zs_.avail_in == 0) return;
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
  }
}

}  // namespace fp::http
