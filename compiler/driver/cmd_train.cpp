// adjc train: minibatch training of a model on a labelled image data set
// (Fashion-MNIST, or any directory laid out like MNIST) through the C++ API's
// fused Model::train_step, with seeded shuffling, per-epoch test accuracy (or
// test loss, for a model without labels) and atomic safetensors checkpoints
// that a later run resumes bit for bit.
//
// Checkpoint contents: every param under its name, the optimiser buffers
// ("opt.m.NAME", "opt.v.NAME"), and metadata model, epoch (completed), step,
// seed, optimizer, batch. Shuffling is a function of (seed, epoch) only, so a run
// resumed from the end of epoch k with the same seed ends with the same bits
// as one that never stopped.
#include <unistd.h>

#include <adjoint/adjoint.hpp>
#include <adjoint/idx.hpp>
#include <adjoint/output_file.hpp>
#include <adjoint/rng.hpp>
#include <adjoint/safetensors.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>

#include "driver/cli.hpp"

namespace adjoint::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct TrainOptions {
  std::string data;
  int64_t epochs = 5, batch = 64;
  uint64_t seed = 0;
  OptimizerConfig opt;
  std::string save, resume;
  int64_t threads = 0;  // 0: every core
};

// 0, 1, 1e+06: a bound as a user reads it.
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Fills `o` from the command line; a usage message on a problem, else "".
std::string parse_options(const Args& a, TrainOptions& o) {
  if (!a.has("--data"))
    return "train needs --data fashion-mnist (or --data DIR with MNIST-style files)";
  o.data = a.get("--data");
  auto integer = [&](const char* name, int64_t lo, int64_t hi, int64_t& into) -> std::string {
    if (!a.has(name)) return "";
    auto v = parse_int(a.get(name), lo, hi);
    if (!v)
      return std::string(name) + " needs an integer in [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "], got '" + a.get(name) + "'";
    into = *v;
    return "";
  };
  auto real = [&](const char* name, double lo, double hi, double& into) -> std::string {
    if (!a.has(name)) return "";
    auto v = parse_real(a.get(name), lo, hi);
    if (!v)
      return std::string(name) + " needs a number in [" + number(lo) + ", " + number(hi) +
             "], got '" + a.get(name) + "'";
    into = *v;
    return "";
  };
  int64_t seed = 0;
  for (const std::string& m :
       {integer("--epochs", 1, 100000, o.epochs), integer("--batch", 1, 1 << 20, o.batch),
        integer("--seed", 0, int64_t{1} << 62, seed),
        integer("--threads", 0, kMaxThreads, o.threads), real("--lr", 0.0, 1e6, o.opt.lr),
        real("--momentum", 0.0, 1.0, o.opt.momentum)})
    if (!m.empty()) return m;
  o.seed = static_cast<uint64_t>(seed);
  if (a.has("--optimizer")) {
    const std::string& k = a.get("--optimizer");
    if (k == "adam")
      o.opt.kind = OptimizerConfig::Kind::adam;
    else if (k == "sgd")
      o.opt.kind = OptimizerConfig::Kind::sgd;
    else
      return "--optimizer must be adam or sgd, not '" + k + "'";
  }
  if (a.has("--save")) o.save = a.get("--save");
  if (a.has("--save") && o.save.empty()) return "--save needs a file name, got ''";
  if (a.has("--resume")) o.resume = a.get("--resume");
  return "";
}

// Which inputs take the images and the labels, checked against the data.
struct Binding {
  std::string images, labels, output;  // labels and output: empty for a model without labels
  std::vector<int64_t> image_shape;    // one image as the model takes it: {784}, {28,28}, {1,28,28}
  Sizes sizes;  // symbolic sizes of the image input other than the batch (f32[B, D]: D = 784)
};

// The first output gives the class scores: [B, classes], B as the images'.
void check_scores(const TensorInfo& out, const TensorInfo& images, int32_t classes) {
  std::string want = "[" + images.dims[0] + "," + std::to_string(classes) + "]";
  if (out.dims.size() != 2 || out.dims[0] != images.dims[0] ||
      out.dims[1] != std::to_string(classes))
    throw Error("the first output '" + out.name + "' is " + out.type +
                ", but training classifies with it: it must be " + want +
                " (one score per class for each image; the data has " + std::to_string(classes) +
                " classes)");
}

// The layouts an image input may have after its batch size: flat, or
// rows x cols with or without one channel (as conv2d's [N, C, H, W] needs).
std::vector<std::vector<int64_t>> image_layouts(const Dataset& data) {
  return {{data.rows * data.cols}, {data.rows, data.cols}, {1, data.rows, data.cols}};
}

std::string dims_text(const std::string& batch, const std::vector<int64_t>& dims) {
  std::string out = "[" + batch;
  for (int64_t d : dims) out += ", " + std::to_string(d);
  return out + "]";
}

// Whether the sizes after the batch size match `layout`: each a number equal
// to it, or a symbol other than the batch's, bound to it in `sizes`.
bool matches(const TensorInfo& i, const std::vector<int64_t>& layout, Sizes& sizes) {
  if (i.dims.size() != layout.size() + 1) return false;
  Sizes bound;
  for (size_t k = 0; k < layout.size(); ++k) {
    const std::string& d = i.dims[k + 1];
    if (std::isdigit(static_cast<unsigned char>(d.front()))) {
      if (d != std::to_string(layout[k])) return false;
    } else if (d == i.dims[0] || bound.emplace(d, layout[k]).first->second != layout[k]) {
      return false;
    }
  }
  sizes = bound;
  return true;
}

// The image input's shape after its batch size, if it is one of the layouts;
// binds the symbols among those sizes into `sizes`.
std::vector<int64_t> image_shape_of(const TensorInfo& i, const Dataset& data, Sizes& sizes) {
  const std::vector<std::vector<int64_t>> layouts = image_layouts(data);
  std::string batch = i.dims.empty() ? "B" : i.dims[0];
  if (!batch.empty() && std::isdigit(static_cast<unsigned char>(batch.front()))) batch = "B";
  // "[B, 784], [B, 28, 28] or [B, 1, 28, 28]"
  std::string choices = dims_text(batch, layouts[0]) + ", " + dims_text(batch, layouts[1]) +
                        " or " + dims_text(batch, layouts[2]);
  for (const std::vector<int64_t>& l : layouts) {
    if (!matches(i, l, sizes)) continue;
    // Minibatches vary in size (the last is smaller; the test set is one
    // call), so the batch size must be a symbol, not a number.
    if (std::isdigit(static_cast<unsigned char>(i.dims[0].front())))
      throw Error("input '" + i.name + "' is " + i.type + ": its batch size must be a symbol (" +
                  dims_text(batch, l) +
                  "), since minibatches differ in size (the last is smaller)");
    return l;
  }
  throw Error("input '" + i.name + "' is " + i.type + ", but the images are " +
              std::to_string(data.rows) + "x" + std::to_string(data.cols) + ": declare it " +
              choices);
}

// Training can size a param only from the image input's sizes after the
// batch (f32[B, D]: D = 784): nothing else is known before the first step.
void check_param_sizes(const Model& m, const TensorInfo& images, const Sizes& sizes) {
  for (const TensorInfo& p : m.params())
    for (const std::string& d : p.dims) {
      if (std::isdigit(static_cast<unsigned char>(d.front())) || sizes.count(d)) continue;
      if (d == images.dims[0])
        throw Error("param '" + p.name + "' is " + p.type + ": it is sized by the batch size " + d +
                    ", which changes between minibatches (the last is smaller), so it "
                    "cannot be trained");
      throw Error("param '" + p.name + "' is " + p.type + ": adjc train sizes params only from " +
                  "the image input '" + images.name + "' (" + images.type +
                  "), which does not give '" + d + "'");
    }
}

Binding bind_model(const Model& m, const Dataset& data) {
  Binding b;
  const TensorInfo* images = nullptr;
  for (const TensorInfo& i : m.inputs()) {
    if (i.dtype == ElemType::i32 && b.labels.empty()) {
      b.labels = i.name;
    } else if (i.dtype != ElemType::i32 && b.images.empty()) {
      b.images = i.name;
      images = &i;
      b.image_shape = image_shape_of(i, data, b.sizes);
    } else {
      throw Error("input '" + i.name + "' (" + i.type + "): adjc train fills only the images (" +
                  "the first float input" + (b.images.empty() ? "" : ", '" + b.images + "'") +
                  ") and the labels (the first i32 input" +
                  (b.labels.empty() ? "" : ", '" + b.labels + "'") + ")");
    }
  }
  int32_t classes = data.classes;
  if (b.images.empty()) throw Error("model '" + m.name() + "' has no float input for the images");
  if (!m.has_loss()) throw Error("model '" + m.name() + "' has no loss (no 'minimize') to train");
  check_param_sizes(m, *images, b.sizes);
  // Without an i32 input the model learns from the images alone (an
  // autoencoder): the test set is scored by its loss, not by accuracy.
  if (b.labels.empty()) return b;
  if (m.outputs().empty()) throw Error("model '" + m.name() + "' has no output to classify with");
  check_scores(m.outputs()[0], *images, classes);
  b.output = m.outputs()[0].name;
  return b;
}

// The images as the model's float type (they come as f32).
Tensor as_float_type(const Tensor& images, ElemType t) {
  if (t == ElemType::f32) return images;
  Tensor out = Tensor::zeros(t, images.shape());
  const float* src = images.data<float>();
  double* dst = out.data<double>();
  for (int64_t i = 0; i < images.numel(); ++i) dst[i] = src[i];
  return out;
}

// The order of epoch `epoch`'s samples: a function of (seed, epoch) only.
std::vector<int64_t> shuffled(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed, stream_of("shuffle." + std::to_string(epoch)));
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)],
              order[static_cast<size_t>(rng.next_u64() % static_cast<uint64_t>(i + 1))]);
  return order;
}

// One minibatch as the model's inputs, refilled in place by gather: passing
// {{name, x}, ...} to the model would copy the images on every call.
struct Batch {
  explicit Batch(const Binding& b)
      : images(b.images), labels(b.labels), image_shape(b.image_shape) {
    in.set(images, Tensor());
    if (!labels.empty()) in.set(labels, Tensor());
  }
  Tensor& x() { return in[images]; }
  Tensor& y() { return in[labels]; }
  int64_t size() const { return in[images].dim(0); }
  std::string images, labels;
  std::vector<int64_t> image_shape;
  Inputs in;
};

// Rows `idx[begin, end)` of images and labels, gathered into the batch. Its
// buffers are reused when the shape is unchanged: a fresh buffer per batch
// cost page faults and a memset on every step.
void gather(const Tensor& images, const Tensor& labels, const std::vector<int64_t>& idx,
            int64_t begin, int64_t end, Batch& batch) {
  Tensor& x = batch.x();
  int64_t n = end - begin, cols = images.dim(1);
  size_t row_bytes = static_cast<size_t>(cols) * (images.dtype() == ElemType::f64 ? 8 : 4);
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), batch.image_shape.begin(), batch.image_shape.end());
  if (x.dtype() != images.dtype() || x.shape() != shape) x = Tensor::zeros(images.dtype(), shape);
  auto* dst = static_cast<char*>(x.raw());
  const auto* src = static_cast<const char*>(images.raw());
  for (int64_t k = 0; k < n; ++k) {
    int64_t r = idx[static_cast<size_t>(begin + k)];
    std::memcpy(dst + static_cast<size_t>(k) * row_bytes, src + static_cast<size_t>(r) * row_bytes,
                row_bytes);
  }
  if (batch.labels.empty()) return;
  Tensor& y = batch.y();
  if (y.dtype() != ElemType::i32 || y.shape() != std::vector<int64_t>{n}) y = Tensor::i32({n});
  for (int64_t k = 0; k < n; ++k)
    y.data<int32_t>()[k] = labels.data<int32_t>()[idx[static_cast<size_t>(begin + k)]];
}

// The test set's score: the fraction of `images` whose argmax of the
// model's output is the label, or for a model without labels its loss
// (each chunk's loss weighted by its size: the mean, for a mean loss).
double test_score(const Model& m, const Binding& b, const Params& p, const Tensor& images,
                  const Tensor& labels) {
  int64_t n = images.dim(0), correct = 0, chunk = 1000;
  double loss = 0;
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  Batch batch(b);
  for (int64_t begin = 0; begin < n; begin += chunk) {
    int64_t end = std::min(n, begin + chunk);
    gather(images, labels, all, begin, end, batch);
    Outputs out = m.forward(batch.in, p);
    if (b.output.empty()) {
      const Tensor& l = out["loss"];
      double v = l.dtype() == ElemType::f64 ? l.data<double>()[0] : l.data<float>()[0];
      loss += v * static_cast<double>(end - begin);
      continue;
    }
    const Tensor& logits = out[b.output];
    int64_t classes = logits.numel() / (end - begin);
    for (int64_t k = 0; k < end - begin; ++k) {
      int64_t best = 0;
      auto at = [&](int64_t c) {
        int64_t i = k * classes + c;
        return logits.dtype() == ElemType::f64 ? logits.data<double>()[i] : logits.data<float>()[i];
      };
      for (int64_t c = 1; c < classes; ++c)
        if (at(c) > at(best)) best = c;
      correct += best == batch.y().data<int32_t>()[k];
    }
  }
  if (b.output.empty()) return n == 0 ? 0.0 : loss / static_cast<double>(n);
  return n == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(n);
}

// "test accuracy 87.10%" or "test loss 0.0123".
std::string score_text(const Binding& b, double score) {
  char buf[64];
  if (b.output.empty())
    std::snprintf(buf, sizeof buf, "test loss %.4f", score);
  else
    std::snprintf(buf, sizeof buf, "test accuracy %.2f%%", 100 * score);
  return buf;
}

const char* kind_name(OptimizerConfig::Kind k) {
  return k == OptimizerConfig::Kind::sgd ? "sgd" : "adam";
}

void save_checkpoint(const std::string& path, const Model& m, const Params& p,
                     const OptimizerState& s, int64_t epoch, const TrainOptions& o) {
  SafeTensors st;
  for (const auto& [name, t] : p) st.tensors.emplace(name, t);
  for (const auto& [name, t] : s.buffers) st.tensors.emplace(name, t);
  st.metadata["model"] = m.name();
  st.metadata["epoch"] = std::to_string(epoch);
  st.metadata["step"] = std::to_string(s.step);
  st.metadata["seed"] = std::to_string(o.seed);
  st.metadata["optimizer"] = kind_name(o.opt.kind);
  st.metadata["batch"] = std::to_string(o.batch);
  write_safetensors(path, st);
}

// Replaces `t` by the checkpoint's tensor of that name, checked against it.
void take(SafeTensors& st, const std::string& path, const std::string& name, Tensor& t) {
  auto it = st.tensors.find(name);
  if (it == st.tensors.end()) throw Error("checkpoint '" + path + "' has no tensor '" + name + "'");
  if (it->second.dtype() != t.dtype() || it->second.shape() != t.shape())
    throw Error("checkpoint '" + path + "': tensor '" + name + "' is " + it->second.describe() +
                ", but the model needs " + t.describe());
  t = std::move(it->second);
}

// Loads params and optimiser state; returns the epochs already done.
int64_t load_checkpoint(const std::string& path, const Model& m, Params& p, OptimizerState& s,
                        const TrainOptions& o) {
  SafeTensors st = read_safetensors(path);
  auto meta = [&](const char* key) -> std::string {
    auto it = st.metadata.find(key);
    if (it == st.metadata.end())
      throw Error("checkpoint '" + path + "' has no '" + key + "' metadata");
    return it->second;
  };
  if (meta("model") != m.name())
    throw Error("checkpoint '" + path + "' is of model '" + meta("model") + "', not '" + m.name() +
                "'");
  if (meta("optimizer") != kind_name(o.opt.kind))
    throw Error("checkpoint '" + path + "' was trained with " + meta("optimizer") + ", not " +
                kind_name(o.opt.kind));
  if (meta("seed") != std::to_string(o.seed))
    std::cerr << "warning: checkpoint '" << path << "' was trained with seed " << meta("seed")
              << "; continuing with seed " << o.seed << "\n";
  // Older checkpoints lack "batch"; a different one changes which samples
  // share a step, so the run no longer matches an uninterrupted one.
  if (auto it = st.metadata.find("batch");
      it != st.metadata.end() && it->second != std::to_string(o.batch))
    std::cerr << "warning: checkpoint '" << path << "' was trained with --batch " << it->second
              << "; continuing with --batch " << o.batch << "\n";
  auto epoch = parse_int(meta("epoch"), 0, int64_t{1} << 40);
  auto step = parse_int(meta("step"), 0, int64_t{1} << 60);
  if (!epoch || !step) throw Error("checkpoint '" + path + "' has a malformed epoch or step");
  if (*epoch >= o.epochs)
    throw Error("checkpoint '" + path + "' is at epoch " + std::to_string(*epoch) + "; --epochs " +
                std::to_string(o.epochs) + " leaves nothing to train (--epochs is the total)");
  for (auto& [name, t] : p) take(st, path, name, t);
  for (auto& [name, t] : s.buffers) take(st, path, name, t);
  s.step = *step;
  return *epoch;
}

// Progress on stderr: a redrawn bar on a terminal, nothing otherwise (the
// per-epoch line is printed by the caller either way).
class Progress {
 public:
  explicit Progress(int64_t batches) : batches_(batches), tty_(isatty(2) != 0) {}
  void update(int64_t epoch, int64_t epochs, int64_t batch, double loss, double rate,
              double eta_s) {
    if (!tty_) return;
    auto now = Clock::now();
    if (batch != batches_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    int width = 24, filled = static_cast<int>(width * batch / std::max<int64_t>(1, batches_));
    std::fprintf(stderr, "\repoch %lld/%lld [%s%s] %lld/%lld loss %.4f  %.0f samples/s  ETA %.0fs ",
                 static_cast<long long>(epoch), static_cast<long long>(epochs),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), '.').c_str(),
                 static_cast<long long>(batch), static_cast<long long>(batches_), loss, rate,
                 eta_s);
    std::fflush(stderr);
  }
  void done() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  int64_t batches_;
  bool tty_;
  Clock::time_point last_{};
};

Dataset load_data(const std::string& which) {
  if (which == "fashion-mnist") return load_fashion_mnist();
  return load_idx_dataset(which, 10);
}

int train(const Args& a, const TrainOptions& o) {
  // A checkpoint that cannot be written fails now, not after the first epoch.
  if (!o.save.empty())
    if (std::string why = output_path_problem(o.save); !why.empty()) return file_error(why);
  Compiler cc;
  std::optional<Model> compiled = compile_file(cc, a.file);
  if (!compiled) return 1;
  const Model& m = *compiled;
  Dataset data = load_data(o.data);
  Binding b = bind_model(m, data);
  Tensor train_x = as_float_type(data.train.images, m.float_type());
  Tensor test_x = as_float_type(data.test.images, m.float_type());
  Params p = m.init_params(o.seed, b.sizes);
  OptimizerState s = m.make_optimizer_state(p);
  int64_t first = o.resume.empty() ? 0 : load_checkpoint(o.resume, m, p, s, o);
  int64_t n = train_x.dim(0), batches = (n + o.batch - 1) / o.batch;
  auto start = Clock::now();
  int64_t seen = 0;
  double score = 0;
  Batch batch(b);
  for (int64_t epoch = first; epoch < o.epochs; ++epoch) {
    std::vector<int64_t> order = shuffled(n, o.seed, epoch);
    Progress bar(batches);
    auto epoch_start = Clock::now();
    double loss_sum = 0;
    for (int64_t k = 0; k < batches; ++k) {
      gather(train_x, data.train.labels, order, k * o.batch, std::min(n, (k + 1) * o.batch), batch);
      loss_sum += m.train_step(batch.in, p, s, o.opt);
      seen += batch.size();
      double secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      double rate = static_cast<double>(std::min(n, (k + 1) * o.batch)) / std::max(secs, 1e-9);
      bar.update(epoch + 1, o.epochs, k + 1, loss_sum / static_cast<double>(k + 1), rate,
                 static_cast<double>(n - std::min(n, (k + 1) * o.batch)) / std::max(rate, 1e-9));
    }
    bar.done();
    score = test_score(m, b, p, test_x, data.test.labels);
    double secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    std::printf("epoch %lld/%lld  loss %.4f  %s  %.1fs  %.0f samples/s\n",
                static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs),
                loss_sum / static_cast<double>(std::max<int64_t>(1, batches)),
                score_text(b, score).c_str(), secs, static_cast<double>(n) / std::max(secs, 1e-9));
    std::fflush(stdout);
    if (!o.save.empty()) save_checkpoint(o.save, m, p, s, epoch + 1, o);
  }
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("done: %s  wall %.1fs  %.0f samples/s\n", score_text(b, score).c_str(), wall,
              static_cast<double>(seen) / std::max(wall, 1e-9));
  return 0;
}

int cmd_train(const Args& a) {
  TrainOptions o;
  if (std::string msg = parse_options(a, o); !msg.empty()) return usage_error(msg);
  try {
    // Results are the same bits for every thread count (see adjoint/parallel.h).
    set_num_threads(static_cast<int>(o.threads));
    return train(a, o);
  } catch (const Error& e) {
    return file_error(e.what());
  }
}

ADJC_COMMAND({"train",
              60,
              "FILE --data fashion-mnist|DIR [--epochs N] [--batch N] [--optimizer adam|sgd] "
              "[--lr X] [--momentum X] [--seed N] [--save CKPT] [--resume CKPT] [--threads N]",
              "  trains the model on labelled 28x28 images (Fashion-MNIST, or a directory of\n"
              "  MNIST-style IDX files) given to its first float input, as [B,784], [B,28,28]\n"
              "  or [B,1,28,28], and labels to its first i32 input, i32[B]: shuffled\n"
              "  minibatches (the last one smaller), test accuracy after each epoch (argmax\n"
              "  of the first output, [B,10]; a model without an i32 input reports its test\n"
              "  loss). Defaults: adam, lr 1e-3, momentum 0, batch 64, epochs 5, seed 0.\n"
              "  --save writes a safetensors\n"
              "  checkpoint (params, optimiser state, epoch, step, seed, batch) after each epoch;\n"
              "  --resume continues from one up to --epochs in total, bit for bit as an\n"
              "  uninterrupted run with the same seed. --threads: threads for the\n"
              "  matrix products (default 0: every core); the results are the same bits\n"
              "  for every count.\n",
              {"--data", "--epochs", "--batch", "--optimizer", "--lr", "--momentum", "--seed",
               "--save", "--resume", "--threads"},
              {},
              cmd_train});

}  // namespace
}  // namespace adjoint::cli
