// The compiled functions and their workspace (the memory plan as the native
// code uses it): a call reads nothing that it did not write first, so results
// do not depend on what the workspace held, and it writes nothing past the
// bytes that m_workspace_size asked for, at any thread count (each thread's
// region of a matrix product packs into its own share of the GEMM scratch).
#include <adjoint/adjoint.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "codegen/native.hpp"
#include "frontend/frontend.hpp"
#include "stages.hpp"
#include "test_api_support.hpp"

using namespace adjoint;

namespace {

adj_tensor abi(Tensor& t) {
  return {t.raw(), t.shape().data(), static_cast<int32_t>(t.rank()),
          static_cast<adj_dtype>(t.dtype())};
}

std::vector<adj_tensor> abi_of(NamedTensors& ts, const Graph& g, const std::vector<ValueId>& ids) {
  std::vector<adj_tensor> out;
  for (ValueId v : ids) out.push_back(abi(ts[g.node(v).attrs.get_str("name")]));
  return out;
}

// `text`'s graph after the optimiser, as Compiler compiles it.
Graph optimised_graph(const std::string& text, const char* name) {
  SourceManager sm;
  Diagnostics d(sm);
  std::optional<Graph> ir = compile_source(sm, sm.add(name, text), d);
  REQUIRE(ir);
  return run_pipeline(*ir).opt;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

}  // namespace

// Every region is written before it is read and nothing live is overwritten,
// whatever the workspace held: calls on a workspace full of NaN bytes, twice
// (the second sees what the first left), give the bits the API's own calls
// give.
TEST_CASE("plan: results do not depend on the workspace's old contents", "[plan]") {
  for (const char* name : {"mlp.adj", "cnn.adj", "attention.adj", "residual.adj", "embedding.adj",
                           "chain.adj", "xor.adj"}) {
    INFO(name);
    std::string text = apitest::example_text(name);
    Compiler cc;
    Model m = cc.compile_string(text, name);
    REQUIRE(m.has_loss());
    Inputs in = apitest::random_inputs(m, 3, 5);
    Params p = m.init_params(2);
    Grads want = m.make_grads(in);
    double want_loss = m.grad(in, p, want);
    Outputs want_out = m.forward(in, p);

    Graph g = optimised_graph(text, name);
    NativeModel native = NativeModel::compile(g);
    std::vector<adj_tensor> inputs = abi_of(in, g, g.inputs()), params = abi_of(p, g, g.params());
    std::vector<int64_t> sizes(g.size_symbols().size(), 3);
    adj_dims dims{sizes.data(), static_cast<int32_t>(sizes.size())};
    int64_t bytes = native.workspace_size_fn()(&dims);
    Tensor workspace = Tensor::zeros(ElemType::f64, {bytes / 8 + 1});
    std::memset(workspace.raw(), 0xff, workspace.bytes());
    for (int call = 0; call < 2; ++call) {
      Grads got = m.make_grads(in);
      std::vector<adj_tensor> grads;
      for (const NamedValue& gr : g.grads) grads.push_back(abi(got[gr.name]));
      double loss =
          native.grad_fn()(inputs.data(), params.data(), grads.data(), &dims, workspace.raw());
      CHECK(std::memcmp(&loss, &want_loss, sizeof loss) == 0);
      for (const NamedValue& gr : g.grads) CHECK(same_bits(got[gr.name], want[gr.name]));
      Outputs out = m.forward(in, p);  // for the shapes
      std::vector<adj_tensor> outs;
      for (const NamedValue& o : g.outputs) outs.push_back(abi(out[o.name]));
      outs.push_back(abi(out["loss"]));
      for (const NamedValue& o : g.outputs) std::memset(out[o.name].raw(), 0, out[o.name].bytes());
      native.forward_fn()(inputs.data(), params.data(), outs.data(), &dims, workspace.raw());
      for (const NamedValue& o : g.outputs) CHECK(same_bits(out[o.name], want_out[o.name]));
    }
  }
}

// The workspace a call asks for is all it writes: a canary after it stays
// as it was, at batches whose products run on the pool (each thread's
// region of a product packs into its own share of the scratch).
TEST_CASE("plan: calls write nothing past the workspace they ask for", "[plan][threads]") {
  for (const char* name : {"mlp.adj", "cnn.adj", "attention.adj", "residual.adj"}) {
    INFO(name);
    std::string text = apitest::example_text(name);
    Compiler cc;
    Model m = cc.compile_string(text, name);
    Graph g = optimised_graph(text, name);
    NativeModel native = NativeModel::compile(g);
    for (int64_t batch : {37, 300}) {
      INFO("batch " << batch);
      Inputs in = apitest::random_inputs(m, batch, 5);
      Params p = m.init_params(2);
      std::vector<adj_tensor> inputs = abi_of(in, g, g.inputs()), params = abi_of(p, g, g.params());
      std::vector<int64_t> sizes(g.size_symbols().size(), batch);
      adj_dims dims{sizes.data(), static_cast<int32_t>(sizes.size())};
      int64_t bytes = native.workspace_size_fn()(&dims);
      const int64_t canary = 1 << 20;
      Tensor workspace = Tensor::zeros(ElemType::f64, {(bytes + canary) / 8 + 1});
      auto* tail = static_cast<unsigned char*>(workspace.raw()) + bytes;
      for (int64_t i = 0; i < canary; ++i) tail[i] = static_cast<unsigned char>(i * 7 + 1);
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        Grads got = m.make_grads(in);
        std::vector<adj_tensor> grads;
        for (const NamedValue& gr : g.grads) grads.push_back(abi(got[gr.name]));
        native.grad_fn()(inputs.data(), params.data(), grads.data(), &dims, workspace.raw());
      }
      set_num_threads(0);
      int64_t changed = 0;
      for (int64_t i = 0; i < canary; ++i)
        changed += tail[i] != static_cast<unsigned char>(i * 7 + 1);
      CHECK(changed == 0);
    }
  }
}
