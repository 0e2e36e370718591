// safetensors: round trips of every type (scalars, empty tensors, metadata),
// the written layout, atomic replacement, and a catalogue of malformed files
// that must each give a clear adjoint::Error naming the file.
#include <unistd.h>

#include <adjoint/safetensors.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "support/temp_dir.hpp"

using namespace adjoint;
namespace fs = std::filesystem;

namespace {

using adjoint::testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Removes first: ext4 flushes a file truncated and rewritten in place on
// close, which makes hundreds of rewrites take seconds.
void spit(const std::string& path, const std::string& bytes) {
  fs::remove(path);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file with the given header text and data bytes (and header length, when
// it should lie).
std::string st_bytes(const std::string& header, const std::string& data, int64_t len = -1) {
  return le64(len < 0 ? header.size() : static_cast<uint64_t>(len)) + header + data;
}

SafeTensors sample() {
  SafeTensors st;
  st.tensors.emplace("w", Tensor::f32({2, 3}, {1, -2, 3.5f, 4, 5, 6}));
  st.tensors.emplace("b", Tensor::f64({3}, {0.25, -1e300, 3}));
  st.tensors.emplace("labels", Tensor::i32({4}, {0, 9, -7, 2147483647}));
  st.tensors.emplace("loss", Tensor::f32({}, {0.125f}));
  st.tensors.emplace("step", Tensor::i32({}, {42}));
  st.tensors.emplace("lr", Tensor::f64({}, {1e-3}));
  st.tensors.emplace("empty", Tensor::f32({0, 4}));
  st.metadata["format"] = "adjoint";
  st.metadata["epoch"] = "3";
  return st;
}

}  // namespace

TEST_CASE("safetensors round trip of every type, scalars, empty tensors and metadata",
          "[runtime]") {
  TempDir dir("st_roundtrip");
  const std::string path = dir.file("a.safetensors");
  SafeTensors st = sample();
  write_safetensors(path, st);
  SafeTensors back = read_safetensors(path);
  CHECK(back.metadata == st.metadata);
  REQUIRE(back.tensors.size() == st.tensors.size());
  for (const auto& [name, t] : st.tensors) {
    INFO(name);
    REQUIRE(back.tensors.count(name));
    CHECK(back.tensors.at(name).equals(t));
  }
  // No temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  // The header is padded to a multiple of 8, so the data (f64 first) is aligned.
  std::string bytes = slurp(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes.find("\"b\":{\"data_offsets\":[0,24]") != std::string::npos);

  // Writing again replaces the file.
  SafeTensors one;
  one.tensors.emplace("x", Tensor::f32({1}, {7}));
  write_safetensors(path, one);
  SafeTensors again = read_safetensors(path);
  CHECK(again.tensors.size() == 1);
  CHECK(again.metadata.empty());
}

TEST_CASE("safetensors reads I64 as i32, checking the range, and files with gaps", "[runtime]") {
  TempDir dir("st_i64");
  const std::string path = dir.file("labels.safetensors");
  std::string data;
  for (int64_t v : {int64_t{3}, int64_t{-1}, int64_t{2147483647}})
    data += le64(static_cast<uint64_t>(v));
  spit(path, st_bytes(R"({"y":{"dtype":"I64","shape":[3],"data_offsets":[0,24]}})", data));
  SafeTensors st = read_safetensors(path);
  const Tensor& y = st.tensors.at("y");
  CHECK(y.dtype() == ElemType::i32);
  CHECK(y.data<int32_t>()[0] == 3);
  CHECK(y.data<int32_t>()[1] == -1);
  CHECK(y.data<int32_t>()[2] == 2147483647);

  spit(path, st_bytes(R"({"y":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
                      le64(1) + le64(uint64_t{1} << 40)));
  CHECK_THROWS_WITH(read_safetensors(path), Catch::Contains("'y'") &&
                                                Catch::Contains("1099511627776") &&
                                                Catch::Contains("element 1"));

  // A gap before the tensor, unknown extra keys, and padding are tolerated.
  spit(path, st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8],"extra":1}}   )",
                      std::string(4, 'x') + std::string("\0\0\x80\x3f", 4)));
  CHECK(read_safetensors(path).tensors.at("a").data<float>()[0] == 1.0f);
}

TEST_CASE("malformed safetensors files give clear errors naming the file", "[runtime]") {
  TempDir dir("st_bad");
  const std::string path = dir.file("bad.safetensors");
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data8(8, '\0');
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  const Case cases[] = {
      {"empty file", "", "too short"},
      {"5 bytes", std::string("\x10\0\0\0\0", 5), "too short"},
      {"header past the end", st_bytes("{}", "", 100), "past the end of the file"},
      {"absurd header", st_bytes("{}", "", int64_t{1} << 40), "absurd"},
      {"all-ones length", le64(~uint64_t{0}), "absurd"},
      {"bad JSON", st_bytes("{\"t\": [1,", ""), "not valid JSON"},
      {"JSON array", st_bytes("[1,2]", ""), "not an object"},
      {"a name twice", st_bytes("{" + ok_entry + "," + ok_entry + "}", data8), "names 't' twice"},
      {"entry not an object", st_bytes(R"({"t": 5})", ""), "'t' is described by number"},
      {"missing dtype", st_bytes(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", data8),
       "no \"dtype\""},
      {"missing shape", st_bytes(R"({"t":{"dtype":"F32","data_offsets":[0,4]}})", data8),
       "no \"shape\""},
      {"missing offsets", st_bytes(R"({"t":{"dtype":"F32","shape":[1]}})", data8),
       "no \"data_offsets\""},
      {"dtype a number", st_bytes(R"({"t":{"dtype":3,"shape":[1],"data_offsets":[0,4]}})", data8),
       "not a string"},
      {"unknown dtype",
       st_bytes(R"({"t":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", data8), "\"F16\""},
      {"negative size",
       st_bytes(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data8), "negative"},
      {"fractional size",
       st_bytes(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", data8),
       "not an integer"},
      {"shape not an array",
       st_bytes(R"({"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", data8), "not an array"},
      {"overflowing shape",
       st_bytes(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})",
                ""),
       "too many elements"},
      {"huge size",
       st_bytes(R"({"t":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})", ""),
       "out-of-range"},
      {"offsets past the end", st_bytes("{" + ok_entry + "}", "1234"), "past the end of the data"},
      {"offsets reversed",
       st_bytes(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8), "reversed"},
      {"offsets not a pair",
       st_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", data8),
       "not a pair"},
      {"wrong size", st_bytes(R"({"t":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", data8),
       "needs 16 bytes"},
      {"overlap",
       st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                data8),
       "overlap"},
      {"metadata not strings", st_bytes(R"({"__metadata__":{"k":1}})", ""), "'k'"},
      {"metadata not an object", st_bytes(R"({"__metadata__":[]})", ""), "__metadata__"},
      {"header not UTF-8", st_bytes("{\"\xff\":1}", ""), "not valid JSON"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    spit(path, c.bytes);
    CHECK_THROWS_WITH(read_safetensors(path),
                      Catch::StartsWith(path + ": ") && Catch::Contains(c.message));
  }
  CHECK_THROWS_WITH(
      read_safetensors(dir.file("missing.safetensors")),
      Catch::Contains("missing.safetensors: cannot open") && Catch::Contains("No such file"));
  CHECK_THROWS_WITH(read_safetensors(dir.path.string()), Catch::Contains("directory"));
}

TEST_CASE("every truncation and many corruptions of a safetensors file fail cleanly", "[runtime]") {
  TempDir dir("st_trunc");
  const std::string good = dir.file("good.safetensors"), path = dir.file("cut.safetensors");
  write_safetensors(good, sample());
  const std::string bytes = slurp(good);
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    spit(path, bytes.substr(0, n));
    CHECK_THROWS_AS(read_safetensors(path), Error);
  }
  // Random byte changes anywhere: either still a valid file or an Error,
  // never a crash (run under valgrind to see no invalid read either).
  std::mt19937 gen(12345);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = bytes;
    for (int k = 0; k < 3; ++k) bad[gen() % bad.size()] = static_cast<char>(gen());
    spit(path, bad);
    try {
      read_safetensors(path);
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(errors > 0);
}

TEST_CASE("writing safetensors fails cleanly, leaving no temporary file", "[runtime]") {
  TempDir dir("st_write");
  SafeTensors st = sample();
  const std::string nowhere = dir.file("no/such/dir/x.safetensors");
  CHECK_THROWS_WITH(write_safetensors(nowhere, st),
                    Catch::Contains("'" + nowhere + "'") && Catch::Contains("does not exist"));

  SafeTensors reserved;
  reserved.tensors.emplace("__metadata__", Tensor::f32({1}));
  CHECK_THROWS_WITH(write_safetensors(dir.file("r.safetensors"), reserved),
                    Catch::Contains("may not be named"));
  CHECK(fs::is_empty(dir.path));

  // A view is written like any tensor.
  double buf[2] = {1.5, -2.5};
  SafeTensors views;
  views.tensors.emplace("v", Tensor::view(buf, {2}, ElemType::f64));
  write_safetensors(dir.file("v.safetensors"), views);
  CHECK(read_safetensors(dir.file("v.safetensors")).tensors.at("v").data<double>()[1] == -2.5);
}
