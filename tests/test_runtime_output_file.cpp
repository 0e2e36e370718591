// The output writer behind every -o: what it does with devices, FIFOs,
// symbolic links and directories, and the temporary file a signal removes.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <adjoint/error.hpp>
#include <adjoint/output_file.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.hpp"

using namespace adjoint;
namespace fs = std::filesystem;
using adjoint::testing::TempDir;
using Catch::Contains;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool default_disposition(int sig) {
  struct sigaction now {};
  return ::sigaction(sig, nullptr, &now) == 0 && now.sa_handler == SIG_DFL;
}

}  // namespace

TEST_CASE("the output writer replaces files and follows symbolic links", "[runtime]") {
  TempDir dir("out_file");
  write_file_atomically(dir.file("a"), {"hello, ", "world"});
  CHECK(slurp(dir.file("a")) == "hello, world");
  write_file_atomically(dir.file("a"), {"new"});
  CHECK(slurp(dir.file("a")) == "new");

  fs::create_directory(dir.file("sub"));
  std::ofstream(dir.file("sub/target")) << "old";
  fs::create_symlink("sub/target", dir.file("link"));
  fs::create_symlink("link", dir.file("link2"));  // a chain, each relative
  write_file_atomically(dir.file("link2"), {"through"});
  CHECK(fs::is_symlink(dir.file("link")));
  CHECK(fs::is_symlink(dir.file("link2")));
  CHECK(slurp(dir.file("sub/target")) == "through");
  fs::create_symlink("sub/fresh", dir.file("dangling"));
  write_file_atomically(dir.file("dangling"), {"made"});
  CHECK(fs::is_symlink(dir.file("dangling")));
  CHECK(slurp(dir.file("sub/fresh")) == "made");
  for (const auto& e : fs::recursive_directory_iterator(dir.path))
    CHECK_THAT(e.path().string(), !Contains(".tmp."));
}

TEST_CASE("the output writer writes devices and FIFOs in place", "[runtime]") {
  TempDir dir("out_dev");
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A reader first (non-blocking), so the writer's open does not wait; the
  // few bytes fit the pipe's buffer.
  int rd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(rd >= 0);
  write_file_atomically(fifo, {"through the pipe"});
  char buf[64] = {};
  CHECK(::read(rd, buf, sizeof buf) == 16);
  ::close(rd);
  CHECK(std::string(buf) == "through the pipe");
  CHECK(fs::is_fifo(fifo));

  write_file_atomically("/dev/null", {"nothing"});
  CHECK(fs::is_character_file("/dev/null"));
  if (fs::exists("/dev/full")) {
    CHECK_THROWS_WITH(write_file_atomically("/dev/full", {"x"}),
                      Contains("/dev/full") && Contains("No space left"));
    CHECK(fs::is_character_file("/dev/full"));
  }
}

TEST_CASE("the output writer refuses empty names, directories and missing ones", "[runtime]") {
  TempDir dir("out_bad");
  CHECK_THROWS_WITH(write_file_atomically("", {"x"}), Contains("empty"));
  CHECK_THROWS_WITH(write_file_atomically(dir.file(""), {"x"}), Contains("is a directory"));
  CHECK_THROWS_WITH(write_file_atomically(".", {"x"}), Contains("'.' is a directory"));
  CHECK_THROWS_WITH(write_file_atomically(dir.file("no/x"), {"x"}),
                    Contains("the directory '" + dir.file("no") + "' does not exist"));
  CHECK(output_path_problem(dir.file("fine")) == "");
  CHECK_THAT(output_path_problem(dir.file("no/x")), Contains("does not exist"));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("a signal removes a guarded temporary file, then ends the process", "[runtime]") {
  TempDir dir("out_sig");
  for (int sig : {SIGINT, SIGTERM}) {
    CAPTURE(sig);
    const std::string tmp = dir.file("p.safetensors.tmp");
    std::ofstream(tmp) << "half written";
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::signal(sig, SIG_DFL);  // as in adjc (a background shell may ignore SIGINT)
      RemoveOnSignal guard(tmp);
      ::raise(sig);
      ::_exit(0);  // not reached: the signal ends the child
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == sig);
    CHECK_FALSE(fs::exists(tmp));
  }
  // The handler is there only while something is guarded.
  if (default_disposition(SIGTERM)) {
    {
      RemoveOnSignal guard(dir.file("x"));
      CHECK_FALSE(default_disposition(SIGTERM));
    }
    CHECK(default_disposition(SIGTERM));
  }
}
