// Liveness, in-place chains and best-fit packing per arena (see
// memory_plan.hpp); the printing is in memory_plan_print.cpp.
#include "codegen/memory_plan.hpp"

#include <algorithm>

namespace adjoint {

namespace {

constexpr int64_t kAlign = 64;  // regions start on cache lines (and AVX-512 vectors)

int64_t round_up(int64_t n) { return (std::max<int64_t>(n, 1) + kAlign - 1) / kAlign * kAlign; }

int64_t elem_bytes(DType t) { return t == DType::f64 ? 8 : 4; }

Dim monomial(const std::vector<std::string>& syms, int64_t coeff) {
  Dim d = coeff;
  for (const std::string& s : syms) d = d * Dim::symbol(s);
  return d;
}

// Arenas in layout order: constant first, then by degree, then by name.
bool unit_less(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

bool overlap(const Region& a, const Region& b) { return a.first <= b.last && b.first <= a.last; }

// Per node, the Buffer node holding its elements (itself, or through a chain
// of aliases), or kNoValue (also for a node fused into another's loop).
std::vector<ValueId> storage_nodes(const Graph& g, const std::vector<ValueId>& loop_of) {
  std::vector<ValueId> s(g.nodes.size(), kNoValue);
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    switch (placement_of(n.op)) {
      case Placement::Buffer:
        if (loop_of[static_cast<size_t>(v)] == v) s[static_cast<size_t>(v)] = v;
        break;
      case Placement::Alias:
        s[static_cast<size_t>(v)] = s[static_cast<size_t>(n.args.at(0))];
        break;
      case Placement::Leaf:
      case Placement::Uniform:
        break;
    }
  }
  return s;
}

// The last use of each Buffer node: a read by any node, directly or through
// an alias (a reshape reads its operand's storage wherever the reshape is
// read), or the end for the graph's results. A fused node reads in its
// root's loop, so that is where its reads happen.
std::vector<ValueId> last_uses(const Graph& g, const std::vector<ValueId>& storage,
                               const std::vector<ValueId>& loop_of) {
  std::vector<ValueId> last(g.nodes.size());
  for (ValueId v = 0; v < g.size(); ++v) last[static_cast<size_t>(v)] = v;
  auto use = [&](ValueId value, ValueId at) {
    ValueId s = storage[static_cast<size_t>(value)];
    if (s != kNoValue) last[static_cast<size_t>(s)] = std::max(last[static_cast<size_t>(s)], at);
  };
  for (ValueId v = 0; v < g.size(); ++v)
    for (ValueId a : g.node(v).args) use(a, loop_of[static_cast<size_t>(v)]);
  if (g.loss) use(*g.loss, g.size());
  for (const NamedValue& r : g.outputs) use(r.value, g.size());
  for (const NamedValue& r : g.grads) use(r.value, g.size());
  return last;
}

// Places one region among the already placed ones of its arena: in the
// smallest gap between live regions that fits it, else above them all.
int64_t best_fit(const Region& r, const std::vector<const Region*>& placed) {
  std::vector<const Region*> live;
  for (const Region* p : placed)
    if (overlap(*p, r)) live.push_back(p);
  std::sort(live.begin(), live.end(),
            [](const Region* a, const Region* b) { return a->offset < b->offset; });
  int64_t cursor = 0, best = -1, best_gap = 0;
  for (const Region* p : live) {
    int64_t gap = p->offset - cursor;
    if (gap >= r.units && (best < 0 || gap < best_gap)) best = cursor, best_gap = gap;
    cursor = std::max(cursor, p->offset + p->units);
  }
  return best >= 0 ? best : cursor;
}

// Packs the regions of one arena, largest first (ties: earliest first), and
// returns the arena's size in units.
int64_t pack(std::vector<Region*> regions) {
  std::sort(regions.begin(), regions.end(), [](const Region* a, const Region* b) {
    return a->units != b->units ? a->units > b->units : a->first < b->first;
  });
  std::vector<const Region*> placed;
  int64_t size = 0;
  for (Region* r : regions) {
    r->offset = best_fit(*r, placed);
    placed.push_back(r);
    size = std::max(size, r->offset + r->units);
  }
  return size;
}

// A region for `v`'s type, live over [first, last], in the arena of its
// byte size's symbols (arenas are numbered by unit here, sorted later).
Region region_for(const Graph& g, ValueId v, ValueId first, ValueId last,
                  std::vector<Arena>& arenas) {
  const Type& t = g.type(v);
  Dim n = num_elements(t.shape);
  auto it = std::find_if(arenas.begin(), arenas.end(),
                         [&](const Arena& a) { return a.unit == n.symbols(); });
  if (it == arenas.end()) it = arenas.insert(arenas.end(), Arena{n.symbols(), 0});
  Region r;
  r.values = {v};
  r.arena = static_cast<size_t>(it - arenas.begin());
  r.bytes = n.coeff() * elem_bytes(t.dtype);
  r.units = round_up(r.bytes);
  r.first = first;
  r.last = last;
  return r;
}

// Per Buffer node, the first node of the in-place chain it belongs to (see
// writes_elementwise): v overwrites an operand (for the root of a fused
// tree, a leaf) whose elements nothing reads after v, read at v's own flat
// index (same shape), of v's element type. The root of a GEMM epilogue
// always overwrites its product.
std::vector<ValueId> in_place_chains(const Graph& g, const std::vector<ValueId>& storage,
                                     const std::vector<ValueId>& last,
                                     const std::vector<ValueId>& loop_of,
                                     const std::vector<ValueId>& epilogue_of) {
  std::vector<ValueId> chain(storage);
  for (ValueId p = 0; p < g.size(); ++p)
    if (ValueId r = epilogue_of[static_cast<size_t>(p)]; r != kNoValue)
      chain[static_cast<size_t>(r)] = chain[static_cast<size_t>(p)];
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (chain[static_cast<size_t>(v)] != v) continue;  // an epilogue's root
    if (storage[static_cast<size_t>(v)] != v || !writes_elementwise(n.op)) continue;
    for (ValueId a : fused_leaves(g, loop_of, v)) {
      ValueId h = storage[static_cast<size_t>(a)];
      if (h == kNoValue || last[static_cast<size_t>(h)] != v) continue;
      if (g.type(a).shape != n.type.shape || g.type(a).dtype != n.type.dtype) continue;
      chain[static_cast<size_t>(v)] = chain[static_cast<size_t>(h)];
      break;
    }
  }
  return chain;
}

// Orders the arenas (see unit_less) and renumbers the regions to match.
void sort_arenas(MemoryPlan& p) {
  std::vector<size_t> order(p.arenas.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return unit_less(p.arenas[a].unit, p.arenas[b].unit); });
  std::vector<size_t> rank(order.size());
  std::vector<Arena> sorted;
  for (size_t i = 0; i < order.size(); ++i) {
    rank[order[i]] = i;
    sorted.push_back(p.arenas[order[i]]);
  }
  p.arenas = std::move(sorted);
  for (Region& r : p.regions) r.arena = rank[r.arena];
}

}  // namespace

void SizePoly::add(const Dim& d) {
  if (d.coeff() == 0) return;
  for (Dim& t : terms)
    if (t.symbols() == d.symbols()) {
      t = monomial(t.symbols(), t.coeff() + d.coeff());
      return;
    }
  terms.push_back(d);
  std::sort(terms.begin(), terms.end(),
            [](const Dim& a, const Dim& b) { return unit_less(a.symbols(), b.symbols()); });
}

int64_t SizePoly::eval(const DimEnv& env) const {
  int64_t v = 0;
  for (const Dim& t : terms) v += t.eval(env);
  return v;
}

// Highest degree first, as one writes a polynomial.
std::string SizePoly::str() const {
  if (terms.empty()) return "0";
  std::string out;
  for (auto it = terms.rbegin(); it != terms.rend(); ++it)
    out += (out.empty() ? "" : " + ") + it->str();
  return out;
}

std::vector<ParamGrad> param_grads(const Graph& g) {
  std::vector<ParamGrad> out;
  if (!g.loss) return out;
  for (const NamedValue& gr : g.grads) {
    std::optional<ValueId> leaf = g.leaf(gr.name);
    if (leaf && g.node(*leaf).op == OpKind::param) out.push_back({*leaf, gr.value, out.size()});
  }
  return out;
}

Dim Arena::scaled(int64_t n) const { return monomial(unit, n); }

std::string Arena::unit_str() const { return monomial(unit, 1).str(); }

SizePoly MemoryPlan::arena_base(size_t arena) const {
  SizePoly p;
  for (size_t a = 0; a < arena; ++a) p.add(arenas[a].bytes());
  return p;
}

SizePoly MemoryPlan::offset(const Region& r) const {
  SizePoly p = arena_base(r.arena);
  p.add(monomial(arenas[r.arena].unit, r.offset));
  return p;
}

SizePoly MemoryPlan::total() const { return arena_base(arenas.size()); }

SizePoly MemoryPlan::unplanned() const {
  SizePoly p;
  for (const Region& r : regions)
    p.add(monomial(arenas[r.arena].unit, r.units * static_cast<int64_t>(r.values.size())));
  return p;
}

const Region* MemoryPlan::region_of(ValueId v) const {
  int i = storage.at(static_cast<size_t>(v));
  if (i < 0) return nullptr;
  const Region& r = regions[static_cast<size_t>(i)];
  bool own = std::find(r.values.begin(), r.values.end(), v) != r.values.end();
  return own && r.snapshot < 0 ? &r : nullptr;
}

MemoryPlan plan_memory(const Graph& g) {
  MemoryPlan p;
  p.loop_of = fuse_pointwise(g);
  std::vector<ValueId> holder = storage_nodes(g, p.loop_of);
  p.last_read = last_uses(g, holder, p.loop_of);
  p.epilogue_of = gemm_epilogues(g, p.loop_of);
  p.alongside = alongside_of(g, p.loop_of);
  std::vector<ValueId> chain = in_place_chains(g, holder, p.last_read, p.loop_of, p.epilogue_of);
  std::vector<int> index(g.nodes.size(), -1);  // a chain's region, by its first node
  for (ValueId v = 0; v < g.size(); ++v) {
    if (holder[static_cast<size_t>(v)] != v) continue;
    ValueId head = chain[static_cast<size_t>(v)];
    ValueId last = p.last_read[static_cast<size_t>(v)];
    if (head == v) {
      index[static_cast<size_t>(v)] = static_cast<int>(p.regions.size());
      ValueId with = p.alongside[static_cast<size_t>(v)];
      p.regions.push_back(region_for(g, v, with == kNoValue ? v : with, last, p.arenas));
    } else {
      Region& r = p.regions[static_cast<size_t>(index[static_cast<size_t>(head)])];
      r.values.push_back(v);
      r.last = std::max(r.last, last);
    }
  }
  // Snapshots are written after the last node and read by the updates.
  p.snapshots.assign(g.grads.size(), -1);
  for (size_t i = 0; i < g.grads.size(); ++i) {
    ValueId gv = g.grads[i].value;
    // A gradient in a region of its own is written there.
    if (placement_of(g.node(gv).op) == Placement::Buffer) continue;
    p.snapshots[i] = static_cast<int>(p.regions.size());
    Region r = region_for(g, gv, g.size(), g.size(), p.arenas);
    r.snapshot = static_cast<int>(i);
    p.regions.push_back(r);
  }
  for (ValueId v = 0; v < g.size(); ++v) {
    ValueId h = holder[static_cast<size_t>(v)];
    p.storage.push_back(h == kNoValue ? -1
                                      : index[static_cast<size_t>(chain[static_cast<size_t>(h)])]);
  }
  for (size_t a = 0; a < p.arenas.size(); ++a) {
    std::vector<Region*> in;
    for (Region& r : p.regions)
      if (r.arena == a) in.push_back(&r);
    p.arenas[a].units = pack(in);
  }
  sort_arenas(p);
  return p;
}

}  // namespace adjoint
