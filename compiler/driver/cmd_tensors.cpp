// adjc init, grad and forward: through the C++ API (adjoint/adjoint.hpp)
// exactly as a user program would, with tensors crossing the command line as
// safetensors files.
#include <adjoint/adjoint.hpp>
#include <adjoint/output_file.hpp>
#include <adjoint/safetensors.hpp>
#include <iostream>

#include "driver/cli.hpp"
#include "stages.hpp"

namespace adjoint::cli {
namespace {

std::optional<uint64_t> parse_seed(const std::string& s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(s);
}

// Usage errors first (2), then an -o that cannot be written (1), before any work.
std::optional<int> check_options(const Args& a, std::initializer_list<const char*> required) {
  if (std::string m = missing_option(a, required); !m.empty()) return usage_error(m);
  if (std::string why = output_path_problem(a.get("-o")); !why.empty()) return file_error(why);
  return std::nullopt;
}

int cmd_init(const Args& a) {
  uint64_t seed = 0;
  if (a.has("--seed")) {
    auto s = parse_seed(a.get("--seed"));
    if (!s)
      return usage_error("--seed needs a non-negative integer, got '" + a.get("--seed") + "'");
    seed = *s;
  }
  Sizes sizes;
  if (a.has("--dim")) {
    std::optional<DimEnv> dims = parse_dim_values(a.get("--dim"));
    if (!dims) return usage_error(std::string(kDimValuesUsage) + ", got '" + a.get("--dim") + "'");
    sizes = *dims;
  }
  if (auto rc = check_options(a, {"-o"})) return *rc;
  Compiler cc;
  std::optional<Model> m = compile_file(cc, a.file);
  if (!m) return 1;
  SafeTensors out;
  for (auto& [name, t] : m->init_params(seed, sizes)) out.tensors.emplace(name, std::move(t));
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
  r.model = compile_file(r.cc, a.file);
  if (!r.model) return false;
  SafeTensors params = read_safetensors(a.get("--params"));
  // A checkpoint of adjc train also holds the optimiser's buffers (opt.m.W,
  // opt.v.W); its params are the rest.
  if (params.metadata.count("optimizer"))
    std::erase_if(params.tensors, [](const auto& t) { return t.first.rfind("opt.", 0) == 0; });
  r.params = Params(std::move(params.tensors));
  r.inputs = Inputs(read_safetensors(a.get("--inputs")).tensors);
  return true;
}

int cmd_grad(const Args& a) {
  if (auto rc = check_options(a, {"--params", "--inputs", "-o"})) return *rc;
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
  if (auto rc = check_options(a, {"--params", "--inputs", "-o"})) return *rc;
  Run r;
  if (!load_run(a, r)) return 1;
  SafeTensors out;
  for (auto& [name, t] : r.model->forward(r.inputs, r.params))
    out.tensors.emplace(name, std::move(t));
  out.metadata["model"] = r.model->name();
  write_safetensors(a.get("-o"), out);
  return 0;
}

}  // namespace

ADJC_COMMAND(
    {.name = "init",
     .order = 30,
     .usage = "FILE -o P.safetensors [--seed N] [--dim D=784]",
     .help = "                                   write every param, filled by its initialiser\n"
             "                                   (deterministic for a seed; default 0); --dim\n"
             "                                   gives symbolic sizes of params (f32[D,10])\n",
     .options = {"-o", "--seed", "--dim"},
     .run = cmd_init});
ADJC_COMMAND(
    {.name = "grad",
     .order = 40,
     .usage = "FILE --params P.safetensors --inputs I.safetensors -o OUT.safetensors",
     .help =
         "                                   write `loss` (a scalar of the model's float type)\n"
         "                                   and `grad.NAME` for every wrt tensor\n",
     .options = {"-o", "--params", "--inputs"},
     .run = cmd_grad});
ADJC_COMMAND(
    {.name = "forward",
     .order = 50,
     .usage = "FILE --params P.safetensors --inputs I.safetensors -o OUT.safetensors",
     .help =
         "                                   write every output, and `loss` if the model has one\n",
     .options = {"-o", "--params", "--inputs"},
     .run = cmd_forward});

}  // namespace adjoint::cli
