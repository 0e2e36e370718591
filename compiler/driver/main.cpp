// adjc: the Adjoint command line.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/frontend.hpp"
#include "stages.hpp"
#include "support/diagnostics.hpp"

namespace {

using namespace adjoint;

constexpr const char* kUsage = R"(usage: adjc COMMAND FILE [options]

commands:
  check FILE                 parse and type/shape-check; print diagnostics only
  emit  FILE --stage=STAGE   print a stage of the pipeline: ast|ir|grad|opt
  help                       this text

Exit status: 0 on success, 1 on errors in FILE, 2 on a usage error.
)";

int usage_error(const std::string& msg) {
  std::cerr << "adjc: " << msg << "\n\n" << kUsage;
  return 2;
}

// Reads FILE into the source manager; nullopt (after a message) if unreadable.
std::optional<uint32_t> load(SourceManager& sm, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "adjc: error: cannot read '" << path << "': " << std::strerror(errno) << "\n";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return sm.add(path, text.str());
}

int report(const Diagnostics& d) {
  std::cerr << d.text();
  return d.has_errors() ? 1 : 0;
}

int cmd_check(const std::string& path) {
  SourceManager sm;
  auto file = load(sm, path);
  if (!file) return 1;
  Diagnostics d(sm);
  compile_source(sm, *file, d);
  return report(d);
}

int cmd_emit(const std::string& path, const std::vector<std::string>& opts) {
  std::optional<Stage> stage;
  for (const std::string& o : opts) {
    if (o.rfind("--stage=", 0) == 0) {
      stage = parse_stage(o.substr(8));
      if (!stage) return usage_error("unknown stage '" + o.substr(8) + "' (expected " + stage_names() + ")");
    } else {
      return usage_error("unknown option '" + o + "'");
    }
  }
  if (!stage) return usage_error("emit needs --stage=" + std::string(stage_names()));
  SourceManager sm;
  auto file = load(sm, path);
  if (!file) return 1;
  Diagnostics d(sm);
  auto text = emit_stage(sm, *file, d, *stage);
  if (!text) return report(d);
  std::cout << *text;
  return report(d);
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  // `emit --stage=ir FILE` and `emit FILE --stage=ir` both work: options start with "--".
  std::string file;
  std::vector<std::string> opts;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) opts.push_back(args[i]);
    else if (file.empty()) file = args[i];
    else return usage_error("unexpected argument '" + args[i] + "'");
  }
  if (cmd != "check" && cmd != "emit") return usage_error("unknown command '" + cmd + "'");
  if (file.empty()) return usage_error(cmd + " needs a FILE");
  if (cmd == "check") {
    if (!opts.empty()) return usage_error("unknown option '" + opts[0] + "'");
    return cmd_check(file);
  }
  return cmd_emit(file, opts);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const adjoint::Error& e) {
    std::cerr << "adjc: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "adjc: internal compiler error: " << e.what() << "\n";
    return 3;
  }
}
