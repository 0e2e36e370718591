// adjc train on a small synthetic MNIST-style data set: checkpoints, exact
// resume, refusal of a mismatched checkpoint, and command-line errors.
#include <sys/wait.h>

#include <adjoint/adjoint.hpp>
#include <adjoint/idx.hpp>
#include <adjoint/safetensors.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_api_support.hpp"

using namespace adjoint;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using Run = apitest::AdjcRun;
using apitest::slurp;

// A scratch directory with the data set and models, removed at exit.
struct Scratch {
  std::string dir = apitest::temp_dir("train_cli");
  Scratch();
  ~Scratch() { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return dir + "/" + name; }
};

void put_be32(std::ofstream& out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.write(b, 4);
}

// `n` images whose label is the brightest of ten bands of rows (learnable).
void write_split(const std::string& dir, const std::string& prefix, uint32_t n, uint32_t seed) {
  std::ofstream img(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  std::ofstream lab(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  put_be32(img, 0x803);
  put_be32(img, n);
  put_be32(img, 28);
  put_be32(img, 28);
  put_be32(lab, 0x801);
  put_be32(lab, n);
  uint32_t state = seed;
  for (uint32_t i = 0; i < n; ++i) {
    state = state * 1664525u + 1013904223u;
    uint8_t label = static_cast<uint8_t>((state >> 16) % 10);
    lab.put(static_cast<char>(label));
    for (int p = 0; p < 784; ++p) {
      state = state * 1664525u + 1013904223u;
      uint8_t noise = static_cast<uint8_t>((state >> 24) % 64);
      bool band = (p / 28) / 2 == label;
      img.put(static_cast<char>(band ? 192 + noise / 2 : noise));
    }
  }
}

constexpr const char* kLinear = R"(model lin
input x : f32[B, 784]
input y : i32[B]
param W : f32[784, 10] = glorot_uniform
param b : f32[10] = zeros
logits = x @ W + b
loss = mean(softmax_cross_entropy(logits, y))
minimize loss
output logits
)";

Scratch::Scratch() {
  write_split(dir, "train", 150, 1);
  write_split(dir, "t10k", 40, 2);
  std::ofstream(path("lin.adj")) << kLinear;
  // The same model but for the shape of b (the first output stays [B, 10]).
  std::string other = kLinear;
  other.replace(other.find("f32[10]"), 7, "f32[1, 10]");
  std::ofstream(path("wide.adj")) << other;
}

const Scratch& scratch() {
  static const Scratch s;
  return s;
}

Run adjc(const std::vector<std::string>& args) { return apitest::run_adjc(args); }

std::vector<std::string> train_args(const std::vector<std::string>& extra) {
  std::vector<std::string> a{
      "train", scratch().path("lin.adj"), "--data", scratch().dir, "--batch", "16", "--seed", "7"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The end of the classifiers written in the tests below: their loss and output.
constexpr const char* kClassifierTail =
    "loss = mean(softmax_cross_entropy(logits, y))\nminimize loss\noutput logits\n";

// Writes `text` to NAME.adj in the scratch directory and trains it on the data set.
Run train_text(const std::string& name, const std::string& text,
               const std::vector<std::string>& extra = {}) {
  std::string file = scratch().path(name + ".adj");
  std::ofstream(file) << text;
  std::vector<std::string> a{"train", file, "--data", scratch().dir};
  a.insert(a.end(), extra.begin(), extra.end());
  return adjc(a);
}

}  // namespace

TEST_CASE("adjc train: trains, checkpoints, and resumes bit for bit", "[train]") {
  for (const char* opt : {"adam", "sgd"}) {
    CAPTURE(opt);
    std::string full = scratch().path(std::string("full_") + opt + ".safetensors");
    std::string half = scratch().path(std::string("half_") + opt + ".safetensors");
    std::string resumed = scratch().path(std::string("resumed_") + opt + ".safetensors");
    std::vector<std::string> o{"--optimizer", opt, "--lr", "0.05", "--momentum", "0.9"};
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> all = o;
      all.insert(all.end(), extra.begin(), extra.end());
      return train_args(all);
    };
    // Thread counts differ between the runs: the bits must not.
    Run a = adjc(with({"--epochs", "3", "--save", full, "--threads", "1"}));
    REQUIRE(a.status == 0);
    CHECK_THAT(a.out, Contains("epoch 3/3"));
    CHECK_THAT(a.out, Contains("done: test accuracy"));
    REQUIRE(adjc(with({"--epochs", "1", "--save", half})).status == 0);
    Run c = adjc(with({"--epochs", "3", "--resume", half, "--save", resumed, "--threads", "3"}));
    REQUIRE(c.status == 0);
    CHECK_THAT(c.out, !Contains("epoch 1/3"));
    SafeTensors x = read_safetensors(full), y = read_safetensors(resumed);
    CHECK(x.metadata == y.metadata);
    CHECK(x.metadata["epoch"] == "3");
    CHECK(x.metadata["step"] == "30");  // 150 samples in batches of 16: 10 a epoch
    REQUIRE(x.tensors.size() == 6);     // W, b and two buffers each
    for (const auto& [name, t] : x.tensors) {
      CAPTURE(name);
      CHECK(t.equals(y.tensors.at(name)));
    }
  }
}

TEST_CASE("adjc train: refuses a checkpoint of another model or shape", "[train]") {
  std::string ck = scratch().path("lin.safetensors");
  REQUIRE(adjc(train_args({"--epochs", "1", "--save", ck})).status == 0);
  Run wide = adjc({"train", scratch().path("wide.adj"), "--data", scratch().dir, "--resume", ck});
  CHECK(wide.status == 1);
  CHECK_THAT(wide.err, Contains("'b'") && Contains("f32[1,10]"));
  std::string text = kLinear;
  text.replace(text.find("model lin"), 9, "model other");
  std::ofstream(scratch().path("other.adj")) << text;
  Run other = adjc({"train", scratch().path("other.adj"), "--data", scratch().dir, "--resume", ck});
  CHECK(other.status == 1);
  CHECK_THAT(other.err, Contains("model 'lin'"));
  Run sgd = adjc(train_args({"--resume", ck, "--optimizer", "sgd"}));
  CHECK(sgd.status == 1);
}

TEST_CASE("adjc train: command-line errors", "[train]") {
  CHECK(adjc(train_args({"--optimizer", "rmsprop"})).status == 2);
  CHECK_THAT(adjc(train_args({"--optimizer", "rmsprop"})).err, Contains("adam or sgd"));
  CHECK(adjc(train_args({"--lr", "abc"})).status == 2);
  CHECK(adjc(train_args({"--lr", "nan"})).status == 2);
  CHECK(adjc(train_args({"--epochs", "0"})).status == 2);
  CHECK(adjc(train_args({"--batch", "-3"})).status == 2);
  CHECK(adjc(train_args({"--threads", "-1"})).status == 2);
  CHECK(adjc(train_args({"--threads", "two"})).status == 2);
  CHECK(adjc({"train", scratch().path("lin.adj")}).status == 2);
  Run missing = adjc({"train", scratch().path("lin.adj"), "--data", scratch().path("nowhere")});
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Contains("nowhere"));
  Run no_ck = adjc(train_args({"--resume", scratch().path("none.safetensors")}));
  CHECK(no_ck.status == 1);
}

TEST_CASE("adjc train: the first output must be [B, classes]", "[train]") {
  // Each used to train and report a meaningless accuracy.
  for (const char* output : {"f32[784, 10] = glorot_uniform\nparam b : f32[10] = zeros\n"
                             "s = sum(x @ W + b)\nlogits = x @ W + b\n"
                             "loss = mean(softmax_cross_entropy(logits, y))\nminimize loss\n"
                             "output s\n",
                             "f32[784, 5] = glorot_uniform\nparam b : f32[5] = zeros\n"
                             "logits = x @ W + b\n"
                             "loss = mean(softmax_cross_entropy(logits, y))\nminimize loss\n"
                             "output logits\n"}) {
    std::string text =
        std::string("model bad\ninput x : f32[B, 784]\ninput y : i32[B]\nparam W : ") + output;
    std::ofstream(scratch().path("bad_out.adj")) << text;
    Run r =
        adjc({"train", scratch().path("bad_out.adj"), "--data", scratch().dir, "--epochs", "1"});
    CAPTURE(text, r.err);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("the first output") && Contains("[B,10]"));
    CHECK_THAT(r.out, !Contains("epoch 1/1"));
  }
}

TEST_CASE("adjc train: the images' batch size must be a symbol", "[train]") {
  std::ofstream(scratch().path("fixed.adj"))
      << "model fixed\ninput x : f32[64, 784]\ninput y : i32[64]\n"
         "param W : f32[784, 10] = glorot_uniform\nlogits = x @ W\n"
         "loss = mean(softmax_cross_entropy(logits, y))\nminimize loss\noutput logits\n";
  Run r = adjc({"train", scratch().path("fixed.adj"), "--data", scratch().dir, "--epochs", "1"});
  CAPTURE(r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("input 'x' is f32[64,784]") && Contains("must be a symbol"));
}

TEST_CASE("adjc train: images may come as [B, 784], [B, 28, 28] or [B, 1, 28, 28]", "[train]") {
  // The same linear model on each layout: the same bytes, so the same bits.
  std::string flat = scratch().path("layout_flat.safetensors");
  REQUIRE(adjc(train_args({"--epochs", "2", "--save", flat})).status == 0);
  SafeTensors want = read_safetensors(flat);
  for (const char* dims : {"28, 28", "1, 28, 28", "D"}) {
    CAPTURE(dims);
    std::string text = kLinear;
    text.replace(text.find("784]"), 4, std::string(dims) + "]");
    // [B, D]: the data binds D = 784, and so sizes W.
    if (dims == std::string("D")) text.replace(text.find("784,"), 4, "D,");
    if (dims != std::string("D")) text.replace(text.find("x @ W"), 5, "reshape(x, [-1, 784]) @ W");
    std::ofstream(scratch().path("layout.adj")) << text;
    std::string ck = scratch().path("layout.safetensors");
    std::vector<std::string> a = train_args({"--epochs", "2", "--save", ck});
    a[1] = scratch().path("layout.adj");
    Run r = adjc(a);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    SafeTensors got = read_safetensors(ck);
    for (const char* name : {"W", "b"}) CHECK(got.tensors.at(name).equals(want.tensors.at(name)));
  }
  // Straight into conv2d, as [N, C, H, W].
  Run conv = train_text("layout_conv",
                        std::string("model lc\ninput x : f32[B, 1, 28, 28]\ninput y : i32[B]\n"
                                    "param K : f32[2, 1, 4, 4] = he_normal\n"
                                    "param W : f32[72, 10] = glorot_uniform\n"
                                    "logits = flatten(maxpool2d(relu(conv2d(x, K, stride=2)), "
                                    "size=2)) @ W\n") +
                            kClassifierTail,
                        {"--epochs", "1", "--batch", "16"});
  CAPTURE(conv.err);
  CHECK(conv.status == 0);
  CHECK_THAT(conv.out, Contains("done: test accuracy"));
  // A param sized by the batch cannot be trained on minibatches of any size.
  Run bp =
      train_text("batch_param", std::string("model bp\ninput x : f32[B, 784]\ninput y : i32[B]\n"
                                            "param W : f32[784, 10]\nparam s : f32[B, 1] = ones\n"
                                            "logits = (x @ W) * s\n") +
                                    kClassifierTail);
  CHECK(bp.status == 1);
  CHECK_THAT(bp.err, Contains("param 's' is f32[B,1]") && Contains("cannot be trained"));
  // A layout that is not the images' is refused, naming the ones that are.
  Run r = train_text("layout_bad",
                     std::string("model lb\ninput x : f32[B, 2, 28, 14]\ninput y : i32[B]\n"
                                 "param W : f32[784, 10]\nlogits = reshape(x, [-1, 784]) @ W\n") +
                         kClassifierTail);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("input 'x' is f32[B,2,28,14]") &&
                        Contains("[B, 784], [B, 28, 28] or [B, 1, 28, 28]"));
}

TEST_CASE("adjc train: a model without labels is scored by its test loss", "[train]") {
  // An autoencoder: images in, images out, no i32 input.
  const char* text =
      "model ae\ninput x : f32[B, 784]\nparam E : f32[784, 8] = he_normal\n"
      "param D : f32[8, 784] = glorot_uniform\nparam d : f32[784]\n"
      "loss = mse(sigmoid(relu(x @ E) @ D + d), x)\nminimize loss\n";
  std::ofstream(scratch().path("ae.adj")) << text;
  std::string ck = scratch().path("ae.safetensors");
  std::vector<std::string> a = train_args({"--epochs", "2", "--save", ck, "--lr", "0.01"});
  a[1] = scratch().path("ae.adj");
  Run r = adjc(a);
  CAPTURE(r.out, r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("epoch 2/2") && !Contains("accuracy"));
  // The reported test loss is the model's loss over the whole test split.
  size_t at = r.out.find("done: test loss ");
  REQUIRE(at != std::string::npos);
  double reported = std::stod(r.out.substr(at + 16));
  Dataset data = load_idx_dataset(scratch().dir, 10);
  Compiler cc;
  Model m = cc.compile_string(text);
  SafeTensors saved = read_safetensors(ck);
  Params p;
  for (const char* name : {"E", "D", "d"}) p.set(name, saved.tensors.at(name));
  Outputs out = m.forward({{"x", data.test.images}}, p);
  CHECK(reported == Approx(out["loss"].data<float>()[0]).margin(1e-4));
}

TEST_CASE("adjc train: a checkpoint serves as adjc forward's params", "[train]") {
  std::string ck = scratch().path("as_params.safetensors");
  REQUIRE(adjc(train_args({"--epochs", "1", "--save", ck})).status == 0);
  Inputs in{{"x", Tensor::f32({2, 784})}, {"y", Tensor::i32({2})}};
  SafeTensors st;
  for (const auto& [name, t] : in) st.tensors.emplace(name, t);
  write_safetensors(scratch().path("as_params_in.safetensors"), st);
  std::string out = scratch().path("as_params_out.safetensors");
  Run r = adjc({"forward", scratch().path("lin.adj"), "--params", ck, "--inputs",
                scratch().path("as_params_in.safetensors"), "-o", out});
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  // x = 0, so the logits are the bias b of the checkpoint.
  SafeTensors saved = read_safetensors(ck), got = read_safetensors(out);
  const float* logits = got.tensors.at("logits").data<float>();
  const float* b = saved.tensors.at("b").data<float>();
  for (int c = 0; c < 10; ++c) CHECK(logits[10 + c] == b[c]);
}

TEST_CASE("adjc train: an input it cannot fill is named", "[train]") {
  Run r = train_text("extra", std::string("model ex\ninput x : f32[B, 784]\ninput y : i32[B]\n"
                                          "input e : f32[3]\nparam W : f32[784, 10]\n"
                                          "logits = x @ W + sum(e)\n") +
                                  kClassifierTail);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("input 'e' (f32[3])") && Contains("fills only the images"));
}

TEST_CASE("adjc train: an empty split is an error naming its file", "[train]") {
  std::string dir = scratch().path("empty_test");
  fs::create_directories(dir);
  write_split(dir, "train", 20, 1);
  write_split(dir, "t10k", 0, 2);
  Run r = adjc({"train", scratch().path("lin.adj"), "--data", dir, "--epochs", "1"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("t10k-images-idx3-ubyte") && Contains("no images"));
  write_split(dir, "train", 0, 1);
  write_split(dir, "t10k", 20, 2);
  r = adjc({"train", scratch().path("lin.adj"), "--data", dir, "--epochs", "1"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("train-images-idx3-ubyte") && Contains("no images"));
}

TEST_CASE("adjc train: checkpoints that cannot be written or resumed", "[train]") {
  // A --save into a missing directory fails before the first epoch.
  Run r = adjc(train_args({"--epochs", "1", "--save", scratch().path("nodir/c.safetensors")}));
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("does not exist"));
  CHECK_THAT(r.out, !Contains("epoch 1/1"));
  CHECK(adjc(train_args({"--save", ""})).status == 2);

  std::string ck = scratch().path("two.safetensors");
  REQUIRE(adjc(train_args({"--epochs", "2", "--save", ck})).status == 0);
  CHECK(read_safetensors(ck).metadata.at("batch") == "16");
  for (const char* epochs : {"1", "2"}) {
    r = adjc(train_args({"--epochs", epochs, "--resume", ck}));
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("is at epoch 2; --epochs " + std::string(epochs) +
                               " leaves nothing to train"));
  }
  // Another batch size trains on, with a warning (as another seed does).
  std::vector<std::string> a{"train",    scratch().path("lin.adj"),
                             "--data",   scratch().dir,
                             "--batch",  "8",
                             "--seed",   "7",
                             "--epochs", "3",
                             "--resume", ck};
  r = adjc(a);
  CHECK(r.status == 0);
  CHECK_THAT(r.err, Contains("warning") && Contains("--batch 16"));
}

TEST_CASE("adjc train: syntax errors print as the other commands print them", "[train]") {
  std::string bad = scratch().path("syntax.adj");
  std::ofstream(bad) << "input x : f32[B, 784]\ninput y : i32[B]\nl = x[0]\n";
  Run r = adjc({"train", bad, "--data", scratch().dir});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::StartsWith(bad + ":3:"));
  CHECK_THAT(r.err, !Contains("adjc: error:"));
}
