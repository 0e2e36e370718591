// adjc explain, adjc graph and adjc cost: the gradient as math, the graph as a
// picture, and what each line costs. All read the optimised (`opt`) stage.
#include <unistd.h>

#include <adjoint/output_file.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "driver/cli.hpp"
#include "explain/explain.hpp"
#include "frontend/frontend.hpp"
#include "stages.hpp"

namespace adjoint::cli {
namespace {

int cmd_explain(const Args& a) {
  if (a.has("--latex") && a.has("--ascii"))
    return usage_error("--latex and --ascii exclude each other");
  SourceManager sm;
  auto opt = compile_opt(a, sm);
  if (!opt) return 1;
  std::string error;
  auto e = explain::build_explanation(*opt, a.has("--wrt") ? a.get("--wrt") : "", error);
  if (!e) return file_error(error);
  explain::Notation n = a.has("--latex")   ? explain::Notation::latex
                        : a.has("--ascii") ? explain::Notation::ascii
                                           : explain::Notation::unicode;
  std::cout << explain::render_explanation(*e, n);
  return 0;
}

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// Graphviz's rendering of `dot` as `format` (svg, png), read from its
// standard output; nullopt when `dot` fails. The DOT source goes through a
// temporary file, removed even when a signal ends the run.
std::optional<std::string> render(const std::string& dot, const std::string& format) {
  std::string src = (std::filesystem::temp_directory_path() / "adjc-graph-XXXXXX").string();
  int fd = ::mkstemp(src.data());
  if (fd < 0)
    throw Error("cannot create a temporary file for Graphviz: " +
                std::string(std::strerror(errno)));
  RemoveOnSignal guard(src);
  ::close(fd);
  // Removed on every way out, a failed write (disk full) included.
  struct RemoveAtExit {
    const std::string& path;
    ~RemoveAtExit() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  } remove_at_exit{src};
  write_file_atomically(src, {dot});
  std::string cmd = "dot -T" + format + " " + shell_quote(src);
  std::optional<std::string> out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    std::string bytes;
    char buf[1 << 16];
    for (size_t got; (got = std::fread(buf, 1, sizeof buf, p)) > 0;) bytes.append(buf, got);
    if (::pclose(p) == 0) out = std::move(bytes);
  }
  return out;
}

int cmd_graph(const Args& a) {
  if (std::string m = missing_option(a, {"-o"}); !m.empty()) return usage_error(m);
  std::string out = a.get("-o");
  std::string ext = std::filesystem::path(out).extension().string();
  if (ext != ".dot" && ext != ".svg" && ext != ".png")
    return usage_error("graph -o needs a .dot, .svg or .png file, got '" + out + "'");
  if (std::string why = output_path_problem(out); !why.empty()) return file_error(why);
  SourceManager sm;
  auto opt = compile_opt(a, sm);
  if (!opt) return 1;
  std::string dot = explain::graph_dot(*opt);
  if (ext == ".dot") {
    write_file_atomically(out, {dot});
    return 0;
  }
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    return file_error("rendering " + ext +
                      " needs Graphviz's `dot` (Debian/Ubuntu package `graphviz`); "
                      "or write DOT with -o FILE.dot");
  std::optional<std::string> image = render(dot, ext.substr(1));
  if (!image) return file_error("Graphviz `dot` failed to render '" + out + "'");
  write_file_atomically(out, {*image});
  return 0;
}

int cmd_cost(const Args& a) {
  DimEnv env;
  if (a.has("--dim")) {
    std::optional<DimEnv> dims = parse_dim_values(a.get("--dim"));
    if (!dims) return usage_error(std::string(kDimValuesUsage) + ", got '" + a.get("--dim") + "'");
    env = *dims;
  }
  SourceManager sm;
  auto opt = compile_opt(a, sm);
  if (!opt) return 1;
  if (std::string why = unknown_size(opt->model, opt->size_symbols(), env); !why.empty())
    return file_error(why);
  try {
    std::cout << explain::cost_report(*opt, env, &sm);
  } catch (const Error& e) {  // a size that cannot be evaluated
    return file_error(e.what());
  }
  return 0;
}

}  // namespace

ADJC_COMMAND(
    {.name = "explain",
     .order = 60,
     .usage = "FILE [--wrt NAME] [--latex|--ascii]",
     .help = "                                   the gradient as math, read from the adjoint IR\n",
     .options = {"--wrt"},
     .flags = {"--latex", "--ascii"},
     .run = cmd_explain});
ADJC_COMMAND({.name = "graph",
              .order = 61,
              .usage = "FILE -o OUT.svg|OUT.png|OUT.dot",
              .help = "                                   forward and adjoint graph (Graphviz)\n",
              .options = {"-o"},
              .run = cmd_graph});
ADJC_COMMAND(
    {.name = "cost",
     .order = 62,
     .usage = "FILE [--dim B=64]",
     .help =
         "                                   forward/backward FLOPs and bytes per source line\n",
     .options = {"--dim"},
     .run = cmd_cost});

}  // namespace adjoint::cli
