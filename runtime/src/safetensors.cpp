// safetensors reading and writing; see adjoint/safetensors.hpp for the format
// and the guarantees. Reading never trusts a number from the file before it
// is checked against the file's real size, so a corrupt or hostile file gives
// an adjoint::Error, never an out-of-bounds read or a giant allocation.
#include "adjoint/safetensors.hpp"

#include <adjoint/output_file.hpp>
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "posix_file.hpp"

namespace adjoint {

// The data is copied to and from memory as is; a big-endian host would need
// byte swaps here, and none is supported yet.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // far beyond any real header

// The element types a file may name: the file's width and what it loads as.
struct FileType {
  const char* name;
  size_t file_size;
  ElemType loads_as;
};
constexpr FileType kFileTypes[] = {{"F32", 4, ElemType::f32},
                                   {"F64", 8, ElemType::f64},
                                   {"I32", 4, ElemType::i32},
                                   {"I64", 8, ElemType::i32}};

const char* file_type_name(ElemType t) {
  switch (t) {
    case ElemType::f32:
      return "F32";
    case ElemType::f64:
      return "F64";
    case ElemType::i32:
      return "I32";
  }
  return "?";
}

// One tensor entry of the header, validated.
struct Entry {
  std::string name;
  const FileType* type = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

class HeaderReader {
 public:
  HeaderReader(const std::string& path, uint64_t data_bytes)
      : path_(path), data_bytes_(data_bytes) {}

  Entry entry(const std::string& name, const json& j) const {
    std::string what = "tensor '" + name + "'";
    if (!j.is_object())
      fail(what + " is described by " + std::string(j.type_name()) + ", not an object");
    Entry e;
    e.name = name;
    e.type = file_type(what, field(j, what, "dtype"));
    e.shape = shape(what, field(j, what, "shape"));
    read_offsets(what, field(j, what, "data_offsets"), e);
    int64_t numel = 0;
    try {
      numel = shape_numel(e.shape);
    } catch (const Error&) {
      fail(what + " has shape " + shape_string(e.shape) + " with too many elements");
    }
    uint64_t want = static_cast<uint64_t>(numel) * e.type->file_size;
    if (e.end - e.begin != want)
      fail(what + " (" + e.type->name + shape_string(e.shape) + ") needs " + std::to_string(want) +
           " bytes but data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
           "] span " + std::to_string(e.end - e.begin));
    return e;
  }

  std::map<std::string, std::string> metadata(const json& j) const {
    if (!j.is_object()) fail("__metadata__ is " + std::string(j.type_name()) + ", not an object");
    std::map<std::string, std::string> m;
    for (const auto& [key, value] : j.items()) {
      if (!value.is_string())
        fail("__metadata__ entry '" + key + "' is " + value.type_name() + ", not a string");
      m[key] = value.get<std::string>();
    }
    return m;
  }

  [[noreturn]] void fail(const std::string& message) const { throw Error(path_ + ": " + message); }

 private:
  const json& field(const json& j, const std::string& what, const char* key) const {
    auto it = j.find(key);
    if (it == j.end()) fail(what + " has no \"" + key + "\"");
    return *it;
  }

  const FileType* file_type(const std::string& what, const json& j) const {
    if (!j.is_string()) fail(what + ": dtype is " + std::string(j.type_name()) + ", not a string");
    const std::string s = j.get<std::string>();
    for (const FileType& t : kFileTypes)
      if (s == t.name) return &t;
    fail(what + " has dtype \"" + s + "\"; supported are F32, F64, I32 and I64 (read as I32)");
  }

  // A non-negative JSON integer that fits int64_t.
  uint64_t count(const std::string& what, const char* field, const json& j) const {
    if (!j.is_number_integer())
      fail(what + ": " + field + " holds " + j.type_name() + ", not an integer");
    if (!j.is_number_unsigned())
      fail(what + ": " + field + " holds the negative value " + j.dump());
    uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(what + ": " + field + " holds the out-of-range value " + j.dump());
    return v;
  }

  std::vector<int64_t> shape(const std::string& what, const json& j) const {
    if (!j.is_array()) fail(what + ": shape is " + std::string(j.type_name()) + ", not an array");
    std::vector<int64_t> s;
    for (const json& d : j) s.push_back(static_cast<int64_t>(count(what, "shape", d)));
    return s;
  }

  void read_offsets(const std::string& what, const json& j, Entry& e) const {
    if (!j.is_array() || j.size() != 2) fail(what + ": data_offsets is not a pair [begin, end]");
    e.begin = count(what, "data_offsets", j[0]);
    e.end = count(what, "data_offsets", j[1]);
    if (e.begin > e.end)
      fail(what + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
           "] are reversed");
    if (e.end > data_bytes_)
      fail(what + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
           "] lie past the end of the data (" + std::to_string(data_bytes_) +
           " bytes; the file is truncated?)");
  }

  const std::string& path_;
  uint64_t data_bytes_;
};

// Two tensors may not share bytes (a writer bug or a crafted file).
void check_no_overlap(const std::vector<Entry>& entries, const HeaderReader& h) {
  std::vector<const Entry*> order;
  for (const Entry& e : entries)
    if (e.end > e.begin) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->begin < order[i - 1]->end)
      h.fail("tensors '" + order[i - 1]->name + "' and '" + order[i]->name +
             "' overlap in the data section");
}

// I64 values, read into an i32 tensor; each must fit.
void narrow_i64(const std::vector<int64_t>& wide, Tensor& t, const Entry& e,
                const HeaderReader& h) {
  int32_t* out = t.data<int32_t>();
  for (size_t i = 0; i < wide.size(); ++i) {
    if (wide[i] < std::numeric_limits<int32_t>::min() ||
        wide[i] > std::numeric_limits<int32_t>::max())
      h.fail("tensor '" + e.name + "' (I64) holds " + std::to_string(wide[i]) + " at element " +
             std::to_string(i) + ", which does not fit the i32 it is read as");
    out[i] = static_cast<int32_t>(wide[i]);
  }
}

Tensor load_entry(const detail::PosixFile& f, uint64_t data_start, const Entry& e,
                  const HeaderReader& h) {
  Tensor t = Tensor::zeros(e.type->loads_as, e.shape);
  const uint64_t at = data_start + e.begin, n = e.end - e.begin;
  if (e.type->file_size == elem_size(t.dtype())) {
    if (!f.read_at(t.raw(), n, at))
      h.fail("cannot read the data of tensor '" + e.name + "': " + f.last_error());
    return t;
  }
  std::vector<int64_t> wide(static_cast<size_t>(t.numel()));
  if (!f.read_at(wide.data(), n, at))
    h.fail("cannot read the data of tensor '" + e.name + "': " + f.last_error());
  narrow_i64(wide, t, e, h);
  return t;
}

}  // namespace

SafeTensors read_safetensors(const std::string& path) {
  detail::PosixFile f = detail::PosixFile::open_read(path);
  const uint64_t size = f.size();
  HeaderReader h(path, 0);
  if (size < 8)
    h.fail("file is too short to be a safetensors file (" + std::to_string(size) + " bytes)");
  unsigned char len_bytes[8];
  if (!f.read_at(len_bytes, 8, 0)) h.fail("cannot read the header length: " + f.last_error());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (header_len > kMaxHeaderBytes)
    h.fail("header length " + std::to_string(header_len) +
           " is absurd (more than 100 MB); not a safetensors file?");
  if (header_len > size - 8)
    h.fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
           std::to_string(size) + " bytes; truncated?)");

  std::string text(header_len, '\0');
  if (!f.read_at(text.data(), header_len, 8)) h.fail("cannot read the header: " + f.last_error());
  json header;
  std::set<std::string> names;
  std::string twice;  // a top-level name given twice (JSON keeps only the last)
  auto note_names = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && twice.empty() &&
        !names.insert(parsed.get<std::string>()).second)
      twice = parsed.get<std::string>();
    return true;
  };
  try {
    header = json::parse(text, note_names);
  } catch (const json::exception& ex) {
    h.fail(std::string("header is not valid JSON: ") + ex.what());
  }
  if (!twice.empty()) h.fail("the header names '" + twice + "' twice");
  if (!header.is_object())
    h.fail("header is a JSON " + std::string(header.type_name()) + ", not an object");

  const uint64_t data_start = 8 + header_len;
  HeaderReader reader(path, size - data_start);
  SafeTensors out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__")
      out.metadata = reader.metadata(value);
    else
      entries.push_back(reader.entry(name, value));
  }
  check_no_overlap(entries, reader);
  for (const Entry& e : entries) out.tensors.emplace(e.name, load_entry(f, data_start, e, reader));
  return out;
}

namespace {

// Tensors in file order: 8-byte types first so every tensor stays aligned
// (the data section starts 8-aligned), then by name.
std::vector<std::pair<const std::string*, const Tensor*>> file_order(const SafeTensors& st) {
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, t] : st.tensors) order.emplace_back(&name, &t);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return elem_size(a.second->dtype()) > elem_size(b.second->dtype());
  });
  return order;
}

std::string header_text(const std::string& path, const SafeTensors& st) {
  json header = json::object();
  if (!st.metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : st.metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : file_order(st)) {
    if (name->empty() || *name == "__metadata__")
      throw Error(path + ": a tensor may not be named '" + *name + "'");
    header[*name] = {{"dtype", file_type_name(t->dtype())},
                     {"shape", t->shape()},
                     {"data_offsets", {offset, offset + t->bytes()}}};
    offset += t->bytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& ex) {  // e.g. a name or metadata that is not UTF-8
    throw Error(path + ": cannot write the header: " + ex.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_safetensors(const std::string& path, const SafeTensors& st) {
  const std::string text = header_text(path, st);
  unsigned char len_bytes[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(n >> (8 * i));
  std::vector<std::string_view> parts{{reinterpret_cast<const char*>(len_bytes), 8}, text};
  for (const auto& [name, t] : file_order(st))
    parts.emplace_back(static_cast<const char*>(t->raw()), t->bytes());
  write_file_atomically(path, parts);
}

}  // namespace adjoint
