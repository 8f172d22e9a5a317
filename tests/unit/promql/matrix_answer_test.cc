// The range-query answer written in pieces: the bytes are Prometheus 2.42's (checked against
// a hand-written answer and against the per-point formatting of format_timestamp/format_value),
// whatever the step grid, the pieces and the values (NaN, ±Inf, extremes, repeats); and the
// gzip stream of those pieces inflates back to the same bytes.
#include "promql/matrix_answer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "http/content_encoding.h"
#include "http/gzip_encoder.h"
#include "promql/api_json.h"
#include "promql/engine.h"

namespace fp::promql {
namespace {

std::string answer(const Matrix& m, const AnswerSteps& grid,
                   const std::vector<std::string>& warnings = {}, size_t* largest_piece = nullptr) {
  std::string out;
  write_matrix_answer(m, warnings, grid, [&](std::string_view piece) {
    EXPECT_FALSE(piece.empty());
    EXPECT_LE(piece.size(), kAnswerPieceBytes);
    if (largest_piece) *largest_piece = std::max(*largest_piece, piece.size());
    out.append(piece);
  });
  return out;
}

// The answer as Prometheus writes it, point by point (the reference the writer must match).
std::string reference(const Matrix& m, const std::vector<std::string>& warnings = {}) {
  std::string out = R"({"status":"success","data":{"resultType":"matrix","result":[)";
  for (size_t i = 0; i < m.size(); ++i) {
    if (i) out += ',';
    out += R"({"metric":{)";
    for (size_t j = 0; j < m[i].labels.size(); ++j) {
      if (j) out += ',';
      out += '"' + m[i].labels[j].first + "\":\"" + m[i].labels[j].second + '"';
    }
    out += R"(},"values":[)";
    for (size_t j = 0; j < m[i].points.size(); ++j) {
      if (j) out += ',';
      out +=
          '[' + format_timestamp(m[i].points[j].t) + ",\"" + format_value(m[i].points[j].v) + "\"]";
    }
    out += "]}";
  }
  out += "]}";
  if (!warnings.empty()) {
    out += ",\"warnings\":[";
    for (size_t i = 0; i < warnings.size(); ++i) out += (i ? ",\"" : "\"") + warnings[i] + '"';
    out += ']';
  }
  return out + '}';
}

TEST(MatrixAnswerTest, SmallAnswerIsPrometheusBytes) {
  Matrix m{{{{"__name__", "temp"}, {"device_id", "d1"}},
            {{1'700'000'000'000, 21.5}, {1'700'000'060'500, 21.5}, {1'700'000'120'000, -0.25}}},
           {{{"device_id", "d2"}}, {{1'700'000'000'000, std::nan("")}}}};
  const std::string want =
      R"({"status":"success","data":{"resultType":"matrix","result":[)"
      R"({"metric":{"__name__":"temp","device_id":"d1"},"values":[[1700000000,"21.5"],)"
      R"([1700000060.500,"21.5"],[1700000120,"-0.25"]]},)"
      R"({"metric":{"device_id":"d2"},"values":[[1700000000,"NaN"]]}]}})";
  EXPECT_EQ(answer(m, AnswerSteps{}), want);
  EXPECT_EQ(answer(m, AnswerSteps{1'700'000'000'000, 60'000, 3}), want);
  EXPECT_EQ(query_result_json(QueryValue{ValueType::kMatrix, m, 0, 0, ""}), want);
}

TEST(MatrixAnswerTest, EmptyMatrixAndWarnings) {
  EXPECT_EQ(answer({}, AnswerSteps{0, 1000, 5}),
            R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  const std::vector<std::string> w{"node b is missing", "x"};
  EXPECT_EQ(answer({}, AnswerSteps{}, w),
            R"({"status":"success","data":{"resultType":"matrix","result":[]},)"
            R"("warnings":["node b is missing","x"]})");
  Matrix m{{{{"a", "b"}}, {{1000, 1}}}};
  EXPECT_EQ(answer(m, AnswerSteps{0, 1000, 2}, w), reference(m, w));
}

// Many series over a grid, with points on it and off it, repeated values and the awkward ones:
// the same bytes as point-by-point formatting, in pieces of at most kAnswerPieceBytes.
TEST(MatrixAnswerTest, LargeAnswerEqualsPointByPointFormatting) {
  std::mt19937_64 rng(42);
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::max(),
                             -std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::denorm_min(),
                             0.0,
                             -0.0,
                             1e21,
                             1e-7,
                             0.1 + 0.2};
  const int64_t start = -90'000, step = 15'000;  // negative timestamps too
  Matrix m;
  for (int s = 0; s < 300; ++s) {
    Series series{{{"device_id", "dev-" + std::to_string(s)}}, {}};
    double v = 20;
    for (int64_t k = 0; k < 200; ++k) {
      int64_t t = start + k * step;
      if (rng() % 17 == 0) t += 1 + static_cast<int64_t>(rng() % 999);  // off the grid
      if (rng() % 5 == 0) v = static_cast<double>(rng() % 10'000) / 64.0;
      if (rng() % 41 == 0) v = specials[rng() % std::size(specials)];
      series.points.push_back({t, v});
    }
    m.push_back(std::move(series));
  }
  m.back().points.push_back({start + 1'000 * step, 1});  // past the grid's end
  size_t largest = 0;
  const std::string got = answer(m, AnswerSteps{start, step, 200}, {}, &largest);
  EXPECT_EQ(got, reference(m));
  EXPECT_GT(got.size(), 3 * kAnswerPieceBytes);
  EXPECT_GT(largest, kAnswerPieceBytes / 2);  // pieces are filled, not one per point
  EXPECT_EQ(answer(m, AnswerSteps{}), got);
  EXPECT_LE(got.size(), matrix_answer_size_hint(m) + 400 * 300);
}

TEST(MatrixAnswerTest, AnswerWrittenInPartsIsTheSameBytes) {
  Matrix m;
  for (int s = 0; s < 50; ++s) {
    Series series{{{"device_id", "dev-" + std::to_string(s)}}, {}};
    for (int64_t k = 0; k < 300; ++k) series.points.push_back({k * 60'000, s + k * 0.5});
    m.push_back(std::move(series));
  }
  const std::vector<std::string> warnings = {"some data missing"};
  const std::string whole = answer(m, AnswerSteps{0, 60'000, 300}, warnings);
  ASSERT_EQ(whole, reference(m, warnings));
  for (const size_t bytes : {size_t{1}, size_t{5'000}, size_t{100'000}}) {
    MatrixAnswerWriter w(m, warnings, AnswerSteps{0, 60'000, 300});
    std::string parts;
    size_t calls = 0;
    bool more = true;
    while (more) {
      const size_t before = parts.size();
      more = w.write_some([&](std::string_view piece) { parts.append(piece); }, bytes);
      ++calls;
      // A call stops after the part that reached `bytes`: at most one series (~10 KB) more.
      EXPECT_LE(parts.size() - before, bytes + 12'000);
      ASSERT_LT(calls, 200u);
    }
    EXPECT_EQ(parts, whole) << bytes;
    if (bytes == 1) {
      EXPECT_EQ(calls, m.size() + 2) << "the head, each series, the tail";
    }
  }
}

TEST(MatrixAnswerTest, GzipStreamOfThePiecesInflatesToTheAnswer) {
  Matrix m;
  for (int s = 0; s < 100; ++s) {
    Series series{{{"device_id", "d" + std::to_string(s)}}, {}};
    for (int k = 0; k < 1441; ++k) series.points.push_back({k * 60'000LL, s + (k / 5) * 0.5});
    m.push_back(std::move(series));
  }
  const std::string plain = answer(m, AnswerSteps{0, 60'000, 1441});
  std::string zipped;
  {
    http::GzipEncoder gz(zipped);
    write_matrix_answer(m, {}, AnswerSteps{0, 60'000, 1441},
                        [&gz](std::string_view piece) { gz.add(piece); });
    gz.finish();
  }
  EXPECT_LT(zipped.size(), plain.size() / 3);
  auto back = http::gunzip(zipped, plain.size());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, plain);
}

TEST(GzipEncoderTest, EmptyBodyIsAValidGzipStream) {
  std::string zipped;
  {
    http::GzipEncoder gz(zipped);
    gz.finish();
  }
  auto back = http::gunzip(zipped, 10);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "");
}

TEST(GzipEncoderTest, AcceptEncodingListsGzip) {
  EXPECT_TRUE(http::accepts_gzip("gzip"));
  EXPECT_TRUE(http::accepts_gzip("gzip, deflate, br"));  // Grafana's Go client, browsers
  EXPECT_TRUE(http::accepts_gzip("deflate,GZIP;q=0.5"));
  EXPECT_TRUE(http::accepts_gzip(" identity ; q=1 ,\tgzip\t"));
  EXPECT_FALSE(http::accepts_gzip(""));
  EXPECT_FALSE(http::accepts_gzip("identity"));
  EXPECT_FALSE(http::accepts_gzip("deflate, br"));
  EXPECT_FALSE(http::accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(http::accepts_gzip("gzip; q=0.000"));
  EXPECT_FALSE(http::accepts_gzip("x-gzipped, gzipx"));
}

}  // namespace
}  // namespace fp::promql
