// Golden tests: each tests/golden/NAME.STAGE.expected holds the exact output of
// `adjc emit NAME.adj --stage=STAGE`, where NAME.adj is tests/golden/NAME.adj
// or else examples/NAME.adj. IR stages must also survive the text round trip:
// print(parse(print(ir))) == print(ir).
//
// To regenerate after an intended change: ADJOINT_UPDATE_GOLDEN=1 adjoint_tests "[golden]",
// then review the diff.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/ir_parser.hpp"
#include "ir/printer.hpp"
#include "stages.hpp"

using namespace adjoint;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path source_for(const std::string& name) {
  fs::path root = ADJOINT_SOURCE_DIR;
  fs::path local = root / "tests/golden" / (name + ".adj");
  return fs::exists(local) ? local : root / "examples" / (name + ".adj");
}

}  // namespace

TEST_CASE("golden stage outputs", "[golden]") {
  fs::path dir = fs::path(ADJOINT_SOURCE_DIR) / "tests/golden";
  bool update = std::getenv("ADJOINT_UPDATE_GOLDEN") != nullptr;
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    fs::path p = entry.path();
    if (p.extension() != ".expected") continue;
    std::string stem = p.stem().string();  // NAME.STAGE
    std::string name = stem.substr(0, stem.rfind('.'));
    std::string stage_name = stem.substr(stem.rfind('.') + 1);
    auto stage = parse_stage(stage_name);
    REQUIRE(stage);
    fs::path src = source_for(name);
    SourceManager sm;
    uint32_t file = sm.add(src.filename().string(), read_file(src));
    Diagnostics d(sm);
    auto text = emit_stage(sm, file, d, *stage);
    INFO(p.filename().string() << "\n" << d.text());
    REQUIRE(text);
    if (update) {
      std::ofstream(p, std::ios::binary) << *text;
    } else {
      CHECK(*text == read_file(p));
    }
    if (*stage != Stage::ast) CHECK(print_graph(parse_graph(*text, p.filename().string())) == *text);
    ++checked;
  }
  CHECK(checked >= 20);
  WARN(checked << " golden files checked");
}
