// adjc: the Adjoint command line.
//
// check and emit work on the compiler's stages; init, grad and forward go
// through the C++ API (adjoint/adjoint.hpp) exactly as a user program would,
// with tensors crossing the command line as safetensors files.
#include <adjoint/adjoint.hpp>
#include <adjoint/safetensors.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
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
  check   FILE                     parse and type/shape-check; print diagnostics only
  emit    FILE --stage=STAGE       print a stage of the pipeline: ast|ir|grad|opt
  init    FILE -o P.safetensors [--seed N]
                                   write every param, filled by its initialiser
                                   (deterministic for a seed; default 0)
  grad    FILE --params P.safetensors --inputs I.safetensors -o OUT.safetensors
                                   write `loss` (a scalar of the model's float type)
                                   and `grad.NAME` for every wrt tensor
  forward FILE --params P.safetensors --inputs I.safetensors -o OUT.safetensors
                                   write every output, and `loss` if the model has one
  help                             this text

Tensors are read and written as safetensors files (F32, F64 and I32; I64
labels are read as i32). Each input and param must be present with its
declared element type and shape; symbolic sizes (B) are taken from the inputs.
Nothing is converted: an f64 tensor for an f32 model is an error. Output files
are written atomically, so a failed run never leaves a half-written file.
An option's value may follow it (--seed 3) or be joined with '=' (--seed=3).

Exit status: 0 on success, 1 on errors in FILE or the tensor files, 2 on a
usage error.
)";

int usage_error(const std::string& msg) {
  std::cerr << "adjc: " << msg << "\n\n" << kUsage;
  return 2;
}

int file_error(const std::string& msg) {
  std::cerr << "adjc: error: " << msg << "\n";
  return 1;
}

// ---------------------------------------------------------------- arguments

// A command's FILE and its options ("-o", "--seed", ...), each with a value.
struct Args {
  std::string file;
  std::map<std::string, std::string> opts;
  bool has(const std::string& o) const { return opts.count(o) != 0; }
  const std::string& get(const std::string& o) const { return opts.at(o); }
};

// Parses the words after the command against the options it accepts; a
// usage message (in `err`) on anything else.
std::optional<Args> parse_args(const std::string& cmd, const std::vector<std::string>& words,
                               const std::set<std::string>& allowed, std::string& err) {
  Args a;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() > 1 && w[0] == '-') {
      size_t eq = w.find('=');
      std::string name = w.substr(0, eq);
      if (!allowed.count(name)) {
        err = "unknown option '" + name + "' for " + cmd;
        return std::nullopt;
      }
      if (a.has(name)) {
        err = "option '" + name + "' is given twice";
        return std::nullopt;
      }
      if (eq != std::string::npos) {
        a.opts[name] = w.substr(eq + 1);
      } else if (i + 1 < words.size()) {
        a.opts[name] = words[++i];
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
    err = cmd + " needs a FILE";
    return std::nullopt;
  }
  return a;
}

// The options a command must have; a usage message for the first missing one.
std::string missing_option(const Args& a, std::initializer_list<const char*> required) {
  for (const char* r : required)
    if (!a.has(r)) return std::string("missing ") + r + " " +
                          (std::string(r) == "-o" ? "OUT" : "FILE");
  return "";
}

// ---------------------------------------------------------------- check, emit

// Reads FILE into the source manager; nullopt (after a message) if unreadable.
std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    file_error("cannot read '" + path + "': " + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int report(const Diagnostics& d) {
  std::cerr << d.text();
  return d.has_errors() ? 1 : 0;
}

int cmd_check(const Args& a) {
  auto text = read_text(a.file);
  if (!text) return 1;
  SourceManager sm;
  uint32_t file = sm.add(a.file, *text);
  Diagnostics d(sm);
  compile_source(sm, file, d);
  return report(d);
}

int cmd_emit(const Args& a) {
  if (!a.has("--stage")) return usage_error("emit needs --stage=" + std::string(stage_names()));
  std::optional<Stage> stage = parse_stage(a.get("--stage"));
  if (!stage)
    return usage_error("unknown stage '" + a.get("--stage") + "' (expected " + stage_names() + ")");
  auto text = read_text(a.file);
  if (!text) return 1;
  SourceManager sm;
  uint32_t file = sm.add(a.file, *text);
  Diagnostics d(sm);
  auto out = emit_stage(sm, file, d, *stage);
  if (out) std::cout << *out;
  return report(d);
}

// ---------------------------------------------------------------- init, grad, forward

// Compiles FILE through the C++ API; the diagnostics go to stderr as they are.
std::optional<Model> compile(Compiler& cc, const std::string& path) {
  auto text = read_text(path);
  if (!text) return std::nullopt;
  try {
    return cc.compile_string(*text, path);
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return std::nullopt;
  }
}

std::optional<uint64_t> parse_seed(const std::string& s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(s);
}

int cmd_init(const Args& a) {
  if (std::string m = missing_option(a, {"-o"}); !m.empty()) return usage_error(m);
  uint64_t seed = 0;
  if (a.has("--seed")) {
    auto s = parse_seed(a.get("--seed"));
    if (!s) return usage_error("--seed needs a non-negative integer, got '" + a.get("--seed") + "'");
    seed = *s;
  }
  Compiler cc;
  std::optional<Model> m = compile(cc, a.file);
  if (!m) return 1;
  SafeTensors out;
  for (auto& [name, t] : m->init_params(seed)) out.tensors.emplace(name, std::move(t));
  out.metadata["model"] = m->name();
  out.metadata["seed"] = std::to_string(seed);
  write_safetensors(a.get("-o"), out);
  return 0;
}

// The model, params and inputs of a grad or forward run.
struct Run {
  Compiler cc;
  std::optional<Model> model;
  Params params;
  Inputs inputs;
};

// Loads FILE, --params and --inputs; false (after a message) on a problem.
bool load_run(const Args& a, Run& r) {
  r.model = compile(r.cc, a.file);
  if (!r.model) return false;
  r.params = Params(read_safetensors(a.get("--params")).tensors);
  r.inputs = Inputs(read_safetensors(a.get("--inputs")).tensors);
  return true;
}

int cmd_grad(const Args& a) {
  if (std::string m = missing_option(a, {"--params", "--inputs", "-o"}); !m.empty())
    return usage_error(m);
  Run r;
  if (!load_run(a, r)) return 1;
  const Model& m = *r.model;
  if (!m.has_loss())
    return file_error("model '" + m.name() + "' has no loss (no 'minimize'); use adjc forward");
  Grads g = m.make_grads(r.inputs);
  double loss = m.grad(r.inputs, r.params, g);
  SafeTensors out;
  out.tensors.emplace("loss", m.float_type() == ElemType::f32
                                  ? Tensor::f32({}, {static_cast<float>(loss)})
                                  : Tensor::f64({}, {loss}));
  for (auto& [name, t] : g) out.tensors.emplace("grad." + name, std::move(t));
  out.metadata["model"] = m.name();
  write_safetensors(a.get("-o"), out);
  return 0;
}

int cmd_forward(const Args& a) {
  if (std::string m = missing_option(a, {"--params", "--inputs", "-o"}); !m.empty())
    return usage_error(m);
  Run r;
  if (!load_run(a, r)) return 1;
  SafeTensors out;
  for (auto& [name, t] : r.model->forward(r.inputs, r.params)) out.tensors.emplace(name, std::move(t));
  out.metadata["model"] = r.model->name();
  write_safetensors(a.get("-o"), out);
  return 0;
}

// ---------------------------------------------------------------- dispatch

struct Command {
  std::set<std::string> options;
  int (*run)(const Args&);
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"check", {{}, cmd_check}},
      {"emit", {{"--stage"}, cmd_emit}},
      {"init", {{"-o", "--seed"}, cmd_init}},
      {"grad", {{"-o", "--params", "--inputs"}, cmd_grad}},
      {"forward", {{"-o", "--params", "--inputs"}, cmd_forward}},
  };
  return table;
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  auto it = commands().find(args[0]);
  if (it == commands().end()) return usage_error("unknown command '" + args[0] + "'");
  std::string err;
  std::vector<std::string> words(args.begin() + 1, args.end());
  std::optional<Args> a = parse_args(args[0], words, it->second.options, err);
  if (!a) return usage_error(err);
  return it->second.run(*a);
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
