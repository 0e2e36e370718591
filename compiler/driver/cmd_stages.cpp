// adjc check and adjc emit: the compiler's stages, as text.
#include <iostream>

#include "driver/cli.hpp"
#include "frontend/frontend.hpp"
#include "stages.hpp"

namespace adjoint::cli {
namespace {

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
  std::optional<DimEnv> dims = DimEnv{};
  if (a.has("--dim")) {
    if (*stage != Stage::plan) return usage_error("--dim applies to --stage=plan only");
    dims = parse_dim_values(a.get("--dim"));
    if (!dims) return usage_error(std::string(kDimValuesUsage) + ", got '" + a.get("--dim") + "'");
  }
  auto text = read_text(a.file);
  if (!text) return 1;
  SourceManager sm;
  uint32_t file = sm.add(a.file, *text);
  Diagnostics d(sm);
  auto out = emit_stage(sm, file, d, *stage, *dims);
  if (out) std::cout << *out;
  return report(d);
}

}  // namespace

ADJC_COMMAND(
    {.name = "check",
     .order = 10,
     .usage = "FILE",
     .help =
         "                                   parse and type/shape-check; print diagnostics only\n",
     .run = cmd_check});
ADJC_COMMAND(
    {.name = "emit",
     .order = 20,
     .usage = "FILE --stage=STAGE [--dim B=64]",
     .help =
         "                                   print a stage of the pipeline: "
         "ast|ir|grad|opt|plan|llvm|asm\n"
         "                                   (plan: the workspace layout, --dim for bytes; llvm: "
         "the\n"
         "                                   module as lowered; asm: the host's code after O3)\n",
     .options = {"--stage", "--dim"},
     .run = cmd_emit});

}  // namespace adjoint::cli
