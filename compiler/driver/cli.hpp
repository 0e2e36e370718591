// The adjc command line: argument parsing and the command registry.
//
// Each command lives in its own file and registers itself with
// ADJC_COMMAND({...}); main() dispatches on the first word. A command's
// options take a value (`--seed 3` or `--seed=3`); its flags take none.
#pragma once

#include <adjoint/adjoint.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.hpp"
#include "support/diagnostics.hpp"

namespace adjoint::cli {

// A command's FILE, its options with their values, and the flags given.
struct Args {
  std::string file;
  std::map<std::string, std::string> opts;
  std::set<std::string> flags;
  bool has(const std::string& o) const { return opts.count(o) != 0 || flags.count(o) != 0; }
  const std::string& get(const std::string& o) const { return opts.at(o); }
};

struct Command {
  std::string name;
  int order = 100;                // position in the help text
  std::string usage;              // "FILE -o P.safetensors [--seed N]"
  std::string help;               // what it does, indented lines
  std::set<std::string> options;  // options taking a value
  std::set<std::string> flags;    // options taking none
  int (*run)(const Args&) = nullptr;
};

bool register_command(Command c);
#define ADJC_CONCAT_(a, b) a##b
#define ADJC_CONCAT(a, b) ADJC_CONCAT_(a, b)
#define ADJC_COMMAND(...)                                     \
  static const bool ADJC_CONCAT(adjc_registered_, __LINE__) = \
      ::adjoint::cli::register_command(__VA_ARGS__)

// Messages: a usage error prints the usage and gives exit status 2; a file or
// input error gives 1.
int usage_error(const std::string& msg);

// Option values: a whole decimal integer in [lo, hi], or a finite number in
// [lo, hi]; nullopt for anything else (signs, spaces, trailing text).
std::optional<int64_t> parse_int(const std::string& s, int64_t lo, int64_t hi);
std::optional<double> parse_real(const std::string& s, double lo, double hi);

// The most --threads accepted: far more threads than cores only slows the
// pool down (see runtime/src/parallel.cpp), and thousands exhaust the system.
inline constexpr int64_t kMaxThreads = 256;
int file_error(const std::string& msg);

// The first of `required` that is missing or empty, as a usage message ("" if
// none).
std::string missing_option(const Args& a, std::initializer_list<const char*> required);

// Reads a whole file; nullopt after a message if it cannot be read.
std::optional<std::string> read_text(const std::string& path);

// Compiles FILE through the C++ API; nullopt after its diagnostics went to
// stderr as they are ("f.adj:3:6: error: ...", no "adjc: error: " prefix).
std::optional<Model> compile_file(Compiler& cc, const std::string& path);

// Prints the diagnostics; 1 if there were errors, else 0.
int report(const Diagnostics& d);

// Compiles FILE to the optimised (`opt`) stage; nullopt after printing the
// diagnostics or the read error. `sm` keeps the source for later messages.
std::optional<Graph> compile_opt(const Args& a, SourceManager& sm);

}  // namespace adjoint::cli
