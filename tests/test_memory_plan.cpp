// The memory plan (codegen/memory_plan.hpp): on every example and test
// network, for several sizes, regions of values that are live at the same
// time never share a byte, every read of a value (directly or through a
// reshape) falls inside its region's live range, and every region is
// 64-byte aligned and inside the total. Reuse must pay: mlp's plan is smaller
// than one region per buffer. The numeric tests (test_codegen, test_networks,
// test_property) are the end-to-end check that nothing live is clobbered;
// here a hand-written graph whose buffer is read through a reshape long after
// its last direct use runs natively too.
//
// `adjc emit mlp.adj --stage=plan --dim B=64` is checked against
// tests/golden_plan/mlp.plan.txt; regenerate with
//   ADJOINT_UPDATE_GOLDEN=1 adjoint_tests "[plan]", then review the diff.
#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "codegen/memory_plan.hpp"
#include "codegen/native.hpp"
#include "explain/explain.hpp"
#include "frontend/frontend.hpp"
#include "ir/ir_parser.hpp"
#include "stages.hpp"
#include "support/gradcheck.hpp"
#include "support/native_check.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::testing;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

StagedGraphs stages_of(const fs::path& file) {
  SourceManager sm;
  uint32_t id = sm.add(file.filename().string(), read_all(file));
  Diagnostics d(sm);
  std::optional<Graph> ir = compile_source(sm, id, d);
  INFO(d.text());
  REQUIRE(ir);
  return run_pipeline(*ir);
}

std::vector<fs::path> all_models() {
  std::vector<fs::path> out;
  for (const char* dir : {"examples", "tests/networks"})
    for (const auto& entry : fs::directory_iterator(fs::path(ADJOINT_SOURCE_DIR) / dir))
      if (entry.path().extension() == ".adj") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

int64_t elem_bytes(DType t) { return t == DType::f64 ? 8 : 4; }

// The Buffer node holding v's elements, found by following reshapes (the
// plan's own bookkeeping is what is under test).
ValueId holder(const Graph& g, ValueId v) {
  while (placement_of(g.node(v).op) == Placement::Alias) v = g.node(v).args.at(0);
  return placement_of(g.node(v).op) == Placement::Buffer ? v : kNoValue;
}

struct Span {
  int64_t begin = 0, end = 0;  // bytes
  const Region* region = nullptr;
};

// g's outputs, compiled natively, against the reference evaluator at B = b
// for each b (tolerance: rounding of the model's float type).
void check_native_forward(const Graph& g, std::initializer_list<int64_t> sizes, uint64_t seed) {
  NativeModel m = NativeModel::compile(g);
  double tolerance = g.float_type == DType::f64 ? 1e-12 : 1e-5;
  for (int64_t b : sizes) {
    TensorMap leaves = random_leaves(g, {{"B", b}}, seed);
    Comparison c = compare_results(m.forward(leaves), evaluate_results(g, leaves), tolerance);
    INFO("B=" << b << ": " << c.report);
    CHECK(c.ok);
  }
}

// IR text with each 'T' replaced by the float type `t`, parsed.
Graph typed_graph(std::string text, const std::string& t, const char* name) {
  for (size_t at = text.find('T'); at != std::string::npos; at = text.find('T', at + 1))
    text.replace(at, 1, t);
  INFO(text);
  return parse_graph(text, name);
}

// Every property of a valid plan, with the sizes of `env`.
void check_plan(const Graph& g, const MemoryPlan& plan, const DimEnv& env) {
  const ValueId end = g.size();
  int64_t total = plan.total().eval(env);
  CHECK(total % 64 == 0);
  // Each Buffer node has a region of its own, as large as its value.
  std::vector<Span> spans;
  for (const Region& r : plan.regions) {
    const Type& t = g.type(r.values.at(0));
    Span s{plan.offset(r).eval(env), 0, &r};
    s.end = s.begin + num_elements(t.shape).eval(env) * elem_bytes(t.dtype);
    CHECK(s.begin % 64 == 0);
    CHECK(s.end <= total);
    CHECK(r.first <= r.last);
    spans.push_back(s);
  }
  // A fused node is pointwise, read once, by a node of its loop, and is not
  // a result. Its loop is a pointwise node's of its type, or a reduction's
  // that reads each element once, whose operand tree reads flat.
  std::vector<int> reads(g.nodes.size(), 0);
  for (const Node& n : g.nodes)
    for (ValueId a : n.args) ++reads[static_cast<size_t>(a)];
  for (ValueId v = 0; v < g.size(); ++v) {
    ValueId root = plan.loop_of.at(static_cast<size_t>(v));
    if (root == v) continue;
    INFO("%" << v << " fused into the loop of %" << root);
    CHECK(pointwise(g.node(v).op));
    if (pointwise(g.node(root).op)) {
      CHECK(g.type(root) == g.type(v));
    } else {
      CHECK(reads_once(g.node(root).op));
      for (ValueId l : fused_leaves(g, plan.loop_of, v, root)) {
        const Shape& s = g.type(l).shape;
        CHECK((s == g.type(v).shape || num_elements(s) == Dim(1)));
      }
    }
    CHECK(root > v);
    CHECK(reads[static_cast<size_t>(v)] == 1);
    for (ValueId u = v + 1; u < g.size(); ++u)
      for (ValueId a : g.node(u).args)
        if (a == v) CHECK(plan.loop_of[static_cast<size_t>(u)] == root);
    CHECK(g.loss != v);
    for (const NamedValue& r : g.outputs) CHECK(r.value != v);
    for (const NamedValue& r : g.grads) CHECK(r.value != v);
  }
  // A GEMM epilogue: a pointwise root over a product that nothing else
  // reads, of the root's type, whose other leaves exist before the product;
  // the root overwrites the product's region.
  for (ValueId p = 0; p < g.size(); ++p) {
    ValueId root = plan.epilogue_of.at(static_cast<size_t>(p));
    if (root == kNoValue) continue;
    INFO("%" << root << " is the epilogue of %" << p);
    CHECK(takes_epilogue(g.node(p).op));
    CHECK(pointwise(g.node(root).op));
    CHECK(plan.loop_of[static_cast<size_t>(root)] == root);
    CHECK(plan.loop_of[static_cast<size_t>(p)] == p);
    CHECK(g.type(root) == g.type(p));
    CHECK(reads[static_cast<size_t>(p)] == 1);
    CHECK(g.loss != p);
    for (const NamedValue& r : g.outputs) CHECK(r.value != p);
    for (const NamedValue& r : g.grads) CHECK(r.value != p);
    std::vector<ValueId> leaves = fused_leaves(g, plan.loop_of, root);
    CHECK(std::find(leaves.begin(), leaves.end(), p) != leaves.end());
    for (ValueId l : leaves) CHECK(l <= p);
    CHECK(plan.region_of(root) == plan.region_of(p));
  }
  for (ValueId v = 0; v < g.size(); ++v) {
    bool buffer = placement_of(g.node(v).op) == Placement::Buffer &&
                  plan.loop_of[static_cast<size_t>(v)] == v;
    const Region* r = plan.region_of(v);
    CHECK((r != nullptr) == buffer);
    if (!r) continue;
    CHECK(r->first <= v);
    // A region starts at its first value, or where that value is computed
    // alongside an earlier node.
    ValueId with = plan.alongside.at(static_cast<size_t>(r->values.at(0)));
    CHECK(r->first == (with == kNoValue ? r->values.at(0) : with));
    // A value overwritten in place is one of the operands of its successor,
    // of the same shape and type.
    auto at = std::find(r->values.begin(), r->values.end(), v);
    if (at != r->values.begin()) {
      ValueId before = *(at - 1);
      bool operand = false;  // of v or of a node fused into v
      for (ValueId u = 0; u <= v; ++u)
        if (plan.loop_of[static_cast<size_t>(u)] == v)
          for (ValueId a : g.node(u).args)
            operand |= holder(g, a) == before && g.type(a) == g.type(v);
      CHECK(operand);
      CHECK(writes_elementwise(g.node(v).op));
    }
  }
  // Every read lies inside the live range of the region it reads.
  auto read_at = [&](ValueId value, ValueId at) {
    ValueId h = holder(g, value);
    if (h == kNoValue || plan.loop_of[static_cast<size_t>(h)] != h) return;  // fused: no storage
    const Region* r = plan.region_of(h);
    REQUIRE(r);
    INFO("%" << h << " read at " << at);
    CHECK(r->first <= at);
    CHECK(at <= r->last);
    // ... and before any later value of its region overwrote it.
    for (ValueId m : r->values) CHECK(!(h < m && m < at));
  };
  // A fused node reads in the loop that computes it.
  for (ValueId v = 0; v < g.size(); ++v)
    for (ValueId a : g.node(v).args) read_at(a, plan.loop_of[static_cast<size_t>(v)]);
  if (g.loss) read_at(*g.loss, end);
  for (const NamedValue& o : g.outputs) read_at(o.value, end);
  for (const NamedValue& gr : g.grads) read_at(gr.value, end);
  // Snapshots: one per gradient with no region of its own, after the end.
  for (size_t i = 0; i < g.grads.size(); ++i) {
    bool needs = placement_of(g.node(g.grads[i].value).op) != Placement::Buffer;
    REQUIRE((plan.snapshots.at(i) >= 0) == needs);
    if (needs) CHECK(plan.regions.at(static_cast<size_t>(plan.snapshots[i])).first == end);
  }
  // Values live at the same time never share a byte.
  for (size_t i = 0; i < spans.size(); ++i)
    for (size_t j = i + 1; j < spans.size(); ++j) {
      const Region &a = *spans[i].region, &b = *spans[j].region;
      if (a.last < b.first || b.last < a.first) continue;
      INFO("%" << a.values[0] << " [" << a.first << ".." << a.last << "] and %" << b.values[0]
               << " [" << b.first << ".." << b.last << "]");
      CHECK((spans[i].end <= spans[j].begin || spans[j].end <= spans[i].begin));
    }
}

// Sizes for every symbol of g: base, base+1, ... (distinct, so that a
// mixed-up symbol shows).
DimEnv sizes(const Graph& g, int64_t base) {
  DimEnv env;
  int64_t k = 0;
  for (const std::string& s : g.size_symbols()) env[s] = base + k++;
  return env;
}

}  // namespace

TEST_CASE("plan: live regions never overlap, on every example and network", "[plan]") {
  for (const fs::path& file : all_models()) {
    StagedGraphs s = stages_of(file);
    for (const Graph* g : {&s.grad, &s.opt}) {
      MemoryPlan plan = plan_memory(*g);
      for (int64_t base : {1, 3, 64, 1000}) {
        INFO(file.filename().string() << (g == &s.opt ? " opt" : " grad") << " size " << base);
        check_plan(*g, plan, sizes(*g, base));
      }
    }
  }
}

TEST_CASE("plan: mlp needs less than one region per buffer", "[plan]") {
  Graph g = stages_of(fs::path(ADJOINT_SOURCE_DIR) / "examples/mlp.adj").opt;
  MemoryPlan plan = plan_memory(g);
  DimEnv env{{"B", 64}};
  int64_t planned = plan.total().eval(env), unplanned = plan.unplanned().eval(env);
  INFO("planned " << plan.total().str() << ", unplanned " << plan.unplanned().str());
  CHECK(planned < unplanned);
  // Two arenas: the constant-size param gradients, and the B-sized activations.
  REQUIRE(plan.arenas.size() == 2);
  CHECK(plan.arenas[0].unit_str() == "1");
  CHECK(plan.arenas[1].unit_str() == "B");
  CHECK(plan.arenas[1].units < plan.unplanned().terms.back().coeff());
  // The compiled model asks for the plan plus the GEMM scratch.
  NativeModel m = NativeModel::compile(g);
  int64_t b = 64;
  adj_dims dims{&b, 1};
  int64_t workspace = m.workspace_size_fn()(&dims);
  CHECK(workspace >= planned);
  CHECK(workspace % 64 == 0);
}

TEST_CASE("plan: a buffer read through a reshape stays live until that read", "[plan]") {
  // %1 is last read directly by %2 (a reshape), and through %2 and %6 by %7:
  // %3..%5 must not reuse its bytes.
  Graph g = parse_graph(R"(model alias f32
%0 x = input {dtype="f32", name="x", shape=[B,4]} : f32[B,4]
%1 a = exp(%0) : f32[B,4]
%2 = reshape(%1) {shape=[4,B]} : f32[4,B]
%3 = neg(%0) : f32[B,4]
%4 = tanh(%3) : f32[B,4]
%5 = sin(%4) : f32[B,4]
%6 = reshape(%2) {shape=[B,4]} : f32[B,4]
%7 y = add(%6, %5) : f32[B,4]
output y = %7
)",
                        "alias.ir");
  MemoryPlan plan = plan_memory(g);
  const Region* a = plan.region_of(1);
  REQUIRE(a);
  CHECK(plan.last_read[1] == 7);
  CHECK(a->first == 1);
  CHECK(plan.region_of(2) == nullptr);
  for (int64_t b : {1, 5, 64}) check_plan(g, plan, {{"B", b}});
  check_native_forward(g, {5}, 11);
}

TEST_CASE("plan: values that die early share bytes", "[plan]") {
  // Each softmax dies when the next is computed, so two regions suffice.
  Graph g = parse_graph(R"(model chain f64
%0 x = input {dtype="f64", name="x", shape=[B,8]} : f64[B,8]
%1 = softmax(%0) {axis=-1} : f64[B,8]
%2 = softmax(%1) {axis=-1} : f64[B,8]
%3 = softmax(%2) {axis=-1} : f64[B,8]
%4 = softmax(%3) {axis=-1} : f64[B,8]
%5 y = softmax(%4) {axis=-1} : f64[B,8]
output y = %5
)",
                        "chain.ir");
  MemoryPlan plan = plan_memory(g);
  REQUIRE(plan.arenas.size() == 1);
  CHECK(plan.regions.size() == 5);
  CHECK(plan.total().str() == "128*B");  // two regions of 64 units of B bytes
  CHECK(plan.unplanned().str() == "320*B");
  check_plan(g, plan, {{"B", 3}});
}

TEST_CASE("plan: only elementwise lowerings write in place", "[plan]") {
  for (OpKind k :
       {OpKind::relu, OpKind::exp, OpKind::pow, OpKind::add, OpKind::mul, OpKind::bce_with_logits})
    CHECK(writes_elementwise(k));
  // Whole-tensor lowerings, and nodes with no region of their own.
  for (OpKind k :
       {OpKind::matmul, OpKind::transpose, OpKind::softmax, OpKind::sum_to, OpKind::broadcast_to,
        OpKind::concat, OpKind::conv2d, OpKind::reshape, OpKind::constant, OpKind::input})
    CHECK(!writes_elementwise(k));
}

TEST_CASE("plan: an elementwise chain overwrites its operands in place", "[plan]") {
  // %2 and %3 are read once, each by a pointwise node of its type: they are
  // fused into %4's loop and have no storage. %1 is read twice (at %2 and
  // %4), so it is stored; both reads happen in %4's loop, where it dies, so
  // %4 overwrites it in place; then %4 -> %6 (through the reshape, same
  // shape as %6) -> %8 (through %7) share that region too.
  Graph g = parse_graph(R"(model chain f32
%0 x = input {dtype="f32", name="x", shape=[B,16]} : f32[B,16]
%1 = exp(%0) : f32[B,16]
%2 = mul(%1, %0) : f32[B,16]
%3 = tanh(%2) : f32[B,16]
%4 = add(%3, %1) : f32[B,16]
%5 = reshape(%4) {shape=[16,B]} : f32[16,B]
%6 = neg(%5) : f32[16,B]
%7 = reshape(%6) {shape=[B,16]} : f32[B,16]
%8 y = sin(%7) : f32[B,16]
output y = %8
)",
                        "inplace.ir");
  MemoryPlan plan = plan_memory(g);
  CHECK(plan.loop_of == std::vector<ValueId>{0, 1, 4, 4, 4, 5, 6, 7, 8});
  CHECK(!plan.region_of(2));
  CHECK(!plan.region_of(3));
  REQUIRE(plan.region_of(1));
  CHECK(plan.region_of(1)->values == std::vector<ValueId>{1, 4, 6, 8});
  CHECK(plan.total().str() == "64*B");
  CHECK(plan.unplanned().str() == "256*B");
  for (int64_t b : {1, 5, 64}) check_plan(g, plan, {{"B", b}});
  check_native_forward(g, {5}, 12);
}

TEST_CASE("fusion: a broadcasting tree is one loop, equal to the reference", "[plan]") {
  // %3, %4 and %5 are each read once by a pointwise node of their type, so
  // all compute in %6's loop, which reads x at its own index, a along the
  // rows and c along the columns; only %6 is stored.
  for (const char* t : {"f32", "f64"}) {
    std::string text = std::string("model tree ") + t + R"(
%0 x = input {dtype="T", name="x", shape=[B,64]} : T[B,64]
%1 a = input {dtype="T", name="a", shape=[64]} : T[64]
%2 c = input {dtype="T", name="c", shape=[B,1]} : T[B,1]
%3 = mul(%0, %1) : T[B,64]
%4 = add(%3, %2) : T[B,64]
%5 = tanh(%4) : T[B,64]
%6 y = mul(%5, %0) : T[B,64]
output y = %6
)";
    Graph g = typed_graph(text, t, "tree.ir");
    MemoryPlan plan = plan_memory(g);
    CHECK(plan.loop_of == std::vector<ValueId>{0, 1, 2, 6, 6, 6, 6});
    CHECK(plan.regions.size() == 1);
    for (int64_t b : {1, 5}) check_plan(g, plan, {{"B", b}});
    check_native_forward(g, {1, 7}, 3);
  }
}

TEST_CASE("fusion: a GEMM applies the tree over its product as an epilogue", "[plan]") {
  // %6 = relu(%4 + b) over the product %4: its epilogue, stored over it.
  // %9 = %7 * %8: %8 is computed after the product %7, so no epilogue for
  // %7; %8 is read twice, so none for it either. %14 = %12 * exp(h): exp
  // is fused into %14, whose leaves %12 and h exist when %12's GEMM runs.
  Graph g = parse_graph(R"(model epi f64
%0 x = input {dtype="f64", name="x", shape=[B,40]} : f64[B,40]
%1 W = input {dtype="f64", name="W", shape=[40,70]} : f64[40,70]
%2 b = input {dtype="f64", name="b", shape=[70]} : f64[70]
%3 V = input {dtype="f64", name="V", shape=[70,70]} : f64[70,70]
%4 = matmul(%0, %1) : f64[B,70]
%5 = add(%4, %2) : f64[B,70]
%6 h = relu(%5) : f64[B,70]
%7 = matmul(%6, %3) : f64[B,70]
%8 = matmul(%6, %3) {tb=true} : f64[B,70]
%9 y = mul(%7, %8) : f64[B,70]
%10 = exp(%6) : f64[B,70]
%11 z = mul(%8, %10) : f64[B,70]
%12 = matmul(%6, %3) : f64[B,70]
%13 = exp(%6) : f64[B,70]
%14 w = mul(%12, %13) : f64[B,70]
output y = %9
output z = %11
output w = %14
)",
                        "epi.ir");
  MemoryPlan plan = plan_memory(g);
  std::vector<ValueId> want(g.nodes.size(), kNoValue);
  want[4] = 6;
  want[12] = 14;
  CHECK(plan.epilogue_of == want);
  CHECK(plan.region_of(6) == plan.region_of(4));
  for (int64_t b : {1, 9}) check_plan(g, plan, {{"B", b}});
  check_native_forward(g, {1, 2, 9}, 7);
}

TEST_CASE("fusion: a sum computes the tree it reads as it reads it", "[plan]") {
  // (y - t)^2 * s is summed whole (%7), and tanh(t) summed to [B,1] (%9):
  // both trees read flat and live in their sums' loops (%4, read twice, is
  // stored). %10 reads a broadcast row (%2), so it keeps a loop (and a
  // buffer) of its own.
  for (const char* t : {"f32", "f64"}) {
    std::string text = std::string("model red ") + t + R"(
%0 y = input {dtype="T", name="y", shape=[B,70]} : T[B,70]
%1 t = input {dtype="T", name="t", shape=[B,70]} : T[B,70]
%2 r = input {dtype="T", name="r", shape=[70]} : T[70]
%3 s = input {dtype="T", name="s", shape=[1]} : T[1]
%4 = sub(%0, %1) : T[B,70]
%5 = mul(%4, %4) : T[B,70]
%6 = mul(%5, %3) : T[B,70]
%7 loss = sum(%6) : T
%8 = tanh(%1) : T[B,70]
%9 u = sum_to(%8) {shape=[B,1]} : T[B,1]
%10 = mul(%0, %2) : T[B,70]
%11 v = sum_to(%10) {shape=[70]} : T[70]
output loss = %7
output u = %9
output v = %11
)";
    Graph g = typed_graph(text, t, "red.ir");
    MemoryPlan plan = plan_memory(g);
    CHECK(plan.loop_of == std::vector<ValueId>{0, 1, 2, 3, 4, 7, 7, 7, 9, 9, 10, 11});
    for (int64_t b : {1, 6}) check_plan(g, plan, {{"B", b}});
    check_native_forward(g, {1, 7}, 4);
  }
}

TEST_CASE("fusion: the loss computes its gradient's softmax in its own row loop", "[plan]") {
  // Rows: ordinary, +inf, -inf, NaN first, NaN later, all -inf. Each result
  // must be what the two ops give separately (the reference evaluator's).
  const double inf = HUGE_VAL, nan = std::nan("");
  for (const char* t : {"f32", "f64"}) {
    std::string text = std::string("model sce ") + t + R"(
%0 z = input {dtype="T", name="z", shape=[B,4]} : T[B,4]
%1 y = input {dtype="i32", name="y", shape=[B]} : i32[B]
%2 l = softmax_cross_entropy(%0, %1) : T[B]
%3 p = softmax(%0) {axis=-1} : T[B,4]
output l = %2
output p = %3
)";
    Graph g = typed_graph(text, t, "sce.ir");
    MemoryPlan plan = plan_memory(g);
    CHECK(plan.alongside == std::vector<ValueId>{kNoValue, kNoValue, kNoValue, 2});
    check_plan(g, plan, {{"B", 6}});
    TensorMap leaves;
    leaves["z"] = DTensor({6, 4}, {0.5, -1, 2, 0.25, 1, inf, -3,  inf, -inf, 0,    2,    -inf,
                                   nan, 1,  2, 3,    1, 2,   nan, 0,   -inf, -inf, -inf, -inf});
    leaves["y"] = DTensor({6}, {2, 1, 0, 3, 1, 0});
    NativeModel native = NativeModel::compile(g);
    Comparison c = compare_results(native.forward(leaves), evaluate_results(g, leaves), 1e-6);
    INFO(t << ": " << c.report);
    CHECK(c.ok);
  }
}

TEST_CASE("fusion: a broadcasting tree over short rows stays unfused", "[plan]") {
  // Rows of 8: a nest's per-row overhead would outweigh the saved buffer.
  // A one-element leaf (b) does not make a nest: that tree fuses.
  Graph g = parse_graph(R"(model short f32
%0 x = input {dtype="f32", name="x", shape=[B,8]} : f32[B,8]
%1 a = input {dtype="f32", name="a", shape=[8]} : f32[8]
%2 b = input {dtype="f32", name="b", shape=[1]} : f32[1]
%3 = add(%0, %1) : f32[B,8]
%4 y = tanh(%3) : f32[B,8]
%5 = mul(%0, %2) : f32[B,8]
%6 z = exp(%5) : f32[B,8]
output y = %4
output z = %6
)",
                        "short.ir");
  MemoryPlan plan = plan_memory(g);
  CHECK(plan.loop_of == std::vector<ValueId>{0, 1, 2, 3, 4, 6, 6});
  check_native_forward(g, {3}, 5);
}

TEST_CASE("plan: adjc emit --stage=plan on mlp", "[plan]") {
  fs::path src = fs::path(ADJOINT_SOURCE_DIR) / "examples/mlp.adj";
  SourceManager sm;
  uint32_t file = sm.add("mlp.adj", read_all(src));
  Diagnostics d(sm);
  std::optional<std::string> text = emit_stage(sm, file, d, Stage::plan, {{"B", 64}});
  REQUIRE(text);
  fs::path golden = fs::path(ADJOINT_SOURCE_DIR) / "tests/golden_plan/mlp.plan.txt";
  if (std::getenv("ADJOINT_UPDATE_GOLDEN")) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << *text;
  } else {
    INFO("golden file " << golden.string() << " (regenerate with ADJOINT_UPDATE_GOLDEN=1)");
    CHECK(*text == read_all(golden));
  }
  // The command line prints the same, and rejects what it cannot use.
  apitest::AdjcRun run = apitest::run_adjc({"emit", src.string(), "--stage=plan", "--dim", "B=64"});
  CHECK(run.status == 0);
  CHECK(run.out == *text);
  apitest::AdjcRun symbolic = apitest::run_adjc({"emit", src.string(), "--stage=plan"});
  CHECK(symbolic.status == 0);
  CHECK(symbolic.out.find("workspace: ") != std::string::npos);
  CHECK(apitest::run_adjc({"emit", src.string(), "--stage=plan", "--dim", "B=x"}).status == 2);
  CHECK(apitest::run_adjc({"emit", src.string(), "--stage=opt", "--dim", "B=4"}).status == 2);
}

TEST_CASE("plan: adjc cost reports the planned workspace", "[plan]") {
  Graph g = stages_of(fs::path(ADJOINT_SOURCE_DIR) / "examples/mlp.adj").opt;
  MemoryPlan plan = plan_memory(g);
  std::string cost = explain::cost_report(g, {{"B", 64}}, nullptr);
  CHECK(cost.find("workspace: ") != std::string::npos);
  CHECK(cost.find("planned by liveness") != std::string::npos);
  CHECK(plan.total().eval({{"B", 64}}) < plan.unplanned().eval({{"B", 64}}));
}
