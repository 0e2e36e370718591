// adjc: the Adjoint command line. Dispatch, argument parsing and help; the
// commands themselves live in cmd_*.cpp.
#include "driver/cli.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>

#include "frontend/frontend.hpp"
#include "stages.hpp"
#include "support/source_file.hpp"

namespace adjoint::cli {
namespace {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

const char* kNotes = R"(
Tensors are read and written as safetensors files (F32, F64 and I32; I64
labels are read as i32). Each input and param must be present with its
declared element type and shape; symbolic sizes (B) are taken from the inputs.
Nothing is converted: an f64 tensor for an f32 model is an error. Output files
are written atomically, so a failed or interrupted run never leaves a
half-written file; a symbolic link's target is replaced (the link stays), and
a device or FIFO (-o /dev/stdout) is written as it is.
An option's value may follow it (--seed 3) or be joined with '=' (--seed=3).
Sizes are given as --dim B=64,T=8 or as --dim B=64 --dim T=8.
Compiled code is cached in $XDG_CACHE_HOME/adjoint (~/.cache/adjoint);
--no-cache, anywhere on the line, or ADJOINT_NO_CACHE=1 turns that off.

Exit status: 0 on success, 1 on errors in FILE or the tensor files, 2 on a
usage error.
)";

std::string usage_text() {
  std::vector<Command> cmds = registry();
  std::stable_sort(cmds.begin(), cmds.end(),
                   [](const Command& a, const Command& b) { return a.order < b.order; });
  std::string out = "usage: adjc COMMAND FILE [options]\n\ncommands:\n";
  for (const Command& c : cmds) {
    std::string line =
        "  " + c.name + std::string(c.name.size() < 8 ? 8 - c.name.size() : 1, ' ') + c.usage;
    out += line + "\n" + c.help;
  }
  out += "  help                             this text\n";
  return out + kNotes;
}

// The command being run, for usage errors that show its own usage only.
const Command* current_command = nullptr;

const Command* find_command(const std::string& name) {
  for (const Command& c : registry())
    if (c.name == name) return &c;
  return nullptr;
}

// Parses the words after the command against its options and flags; a usage
// message (in `err`) on anything else.
std::optional<Args> parse_args(const Command& cmd, const std::vector<std::string>& words,
                               std::string& err) {
  Args a;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() > 1 && w[0] == '-') {
      size_t eq = w.find('=');
      std::string name = w.substr(0, eq);
      bool is_flag = cmd.flags.count(name) != 0;
      if (!is_flag && !cmd.options.count(name)) {
        err = "unknown option '" + name + "' for " + cmd.name;
        return std::nullopt;
      }
      // --dim B=64 --dim D=784 means --dim B=64,D=784.
      if (a.has(name) && name != "--dim") {
        err = "option '" + name + "' is given twice";
        return std::nullopt;
      }
      if (is_flag) {
        if (eq != std::string::npos) {
          err = "option '" + name + "' takes no value";
          return std::nullopt;
        }
        a.flags.insert(name);
      } else if (eq != std::string::npos || i + 1 < words.size()) {
        std::string value = eq != std::string::npos ? w.substr(eq + 1) : words[++i];
        a.opts[name] = a.has(name) ? a.opts[name] + "," + value : value;
      } else {
        err = "option '" + name + "' needs a value";
        return std::nullopt;
      }
    } else if (a.file.empty()) {
      a.file = w;
    } else {
      err = "unexpected argument '" + w + "'";
      return std::nullopt;
    }
  }
  if (a.file.empty()) {
    err = cmd.name + " needs a FILE";
    return std::nullopt;
  }
  return a;
}

// Takes the global --no-cache out of `args`; the commands build their
// Compilers themselves, so it reaches them as ADJOINT_NO_CACHE.
void take_global_flags(std::vector<std::string>& args) {
  auto it = std::remove(args.begin(), args.end(), std::string("--no-cache"));
  if (it == args.end()) return;
  args.erase(it, args.end());
  ::setenv("ADJOINT_NO_CACHE", "1", 1);
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  take_global_flags(args);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage_text();
    return args.empty() ? 2 : 0;
  }
  const Command* cmd = find_command(args[0]);
  if (!cmd) return usage_error("unknown command '" + args[0] + "'");
  current_command = cmd;
  std::string err;
  std::vector<std::string> words(args.begin() + 1, args.end());
  std::optional<Args> a = parse_args(*cmd, words, err);
  if (!a) return usage_error(err);
  return cmd->run(*a);
}

}  // namespace

bool register_command(Command c) {
  registry().push_back(std::move(c));
  return true;
}

std::optional<int64_t> parse_int(const std::string& s, int64_t lo, int64_t hi) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int64_t v = std::stoll(s);
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<double> parse_real(const std::string& s, double lo, double hi) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v) || v < lo || v > hi)
    return std::nullopt;
  return v;
}

int usage_error(const std::string& msg) {
  std::cerr << "adjc: " << msg << "\n\n";
  if (current_command)
    std::cerr << "usage: adjc " << current_command->name << " " << current_command->usage << "\n"
              << current_command->help << "(adjc help: every command and option)\n";
  else
    std::cerr << usage_text();
  return 2;
}

int file_error(const std::string& msg) {
  std::cerr << "adjc: error: " << msg << "\n";
  return 1;
}

std::string missing_option(const Args& a, std::initializer_list<const char*> required) {
  for (const char* r : required) {
    bool out = std::string(r) == "-o";
    if (!a.has(r)) return std::string("missing ") + r + " " + (out ? "OUT" : "FILE");
    if (a.get(r).empty()) return std::string(r) + " needs a file name, got ''";
  }
  return "";
}

std::optional<std::string> read_text(const std::string& path) {
  try {
    return read_source_file(path);
  } catch (const Error& e) {
    file_error(e.what());
    return std::nullopt;
  }
}

std::optional<Model> compile_file(Compiler& cc, const std::string& path) {
  auto text = read_text(path);
  if (!text) return std::nullopt;
  try {
    return cc.compile_string(*text, path);
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return std::nullopt;
  }
}

std::optional<Graph> compile_opt(const Args& a, SourceManager& sm) {
  auto text = read_text(a.file);
  if (!text) return std::nullopt;
  uint32_t file = sm.add(a.file, *text);
  Diagnostics d(sm);
  std::optional<Graph> ir = compile_source(sm, file, d);
  if (!ir) {
    report(d);
    return std::nullopt;
  }
  return run_pipeline(*ir).opt;
}

int report(const Diagnostics& d) {
  std::cerr << d.text();
  return d.has_errors() ? 1 : 0;
}

}  // namespace adjoint::cli

int main(int argc, char** argv) {
  try {
    return adjoint::cli::run(argc, argv);
  } catch (const adjoint::Error& e) {
    std::cerr << "adjc: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    // Allocations that name themselves throw adjoint::OutOfMemory (above);
    // anything else that runs out (a compiler table, a std::vector) lands here.
    std::cerr << "adjc: error: out of memory (the model or its sizes need more memory than "
                 "this machine has)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "adjc: internal compiler error: " << e.what() << "\n";
    return 3;
  }
}
