// ferry key generate: an Ed25519 key pair for signed builds (docs/signatures.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "crypto/sign.h"
#include "tools/cli.h"
#include "util/posix.h"

namespace ferry::cli {
namespace {

struct KeyArgs {
  std::string out;
  bool force = false, json = false;
};

// Writes `text` to `path` with `mode`, refusing to replace a file unless force.
Status WriteNew(const std::string& path, const std::string& text, mode_t mode, bool force) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return Status::Usage(path + " exists: choose another --out, or --force to replace it");
    return Status::TargetUnwritable(PosixError("cannot write " + path, errno).message());
  }
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = fchmod(fd, mode) == 0 && ok;
  ok = close(fd) == 0 && ok;
  return ok ? Status::OK()
            : Status::TargetUnwritable(PosixError("cannot write " + path, errno).message());
}

int RunKeyGenerate(const KeyArgs& a, const Context& ctx, Output* out) {
  if (a.out.empty()) return out->Fail(Status::Usage("--out needs a file name"));
  const std::string pub = a.out + ".pub";
  // Neither file is written if either exists: no half-made key pair.
  for (const auto& f : {a.out, pub})
    if (!a.force && access(f.c_str(), F_OK) == 0)
      return out->Fail(
          Status::Usage(f + " exists: choose another --out, or --force to replace it"));
  auto key = SigningKey::Generate();
  if (!key.ok()) return out->Fail(key.status());
  if (Status st = WriteNew(a.out, (*key)->PrivatePem(), 0600, a.force); !st.ok())
    return out->Fail(st);
  if (Status st = WriteNew(pub, (*key)->PublicPem(), 0644, a.force); !st.ok()) return out->Fail(st);
  if (a.json)
    out->PrintJson(json{
        {"status", "ok"}, {"key_id", (*key)->id()}, {"private_key", a.out}, {"public_key", pub}});
  else if (!ctx.quiet)
    std::fprintf(stderr,
                 "ferry key: key %s: private key %s (keep it secret: the CI secret store), "
                 "public key %s (for --trust-key)\n",
                 (*key)->id().c_str(), a.out.c_str(), pub.c_str());
  return 0;
}

}  // namespace

Runner AddKeyCommand(CLI::App* app, const Context* ctx) {
  auto* key = app->add_subcommand("key", "Signing keys for signed builds");
  key->require_subcommand(1);
  auto* gen = key->add_subcommand("generate", "Write a new Ed25519 key pair: FILE and FILE.pub");
  auto a = std::make_shared<KeyArgs>();
  gen->add_option("--out", a->out, "Private key file (the public key goes to FILE.pub)")
      ->required();
  gen->add_flag("--force", a->force, "Replace existing files");
  gen->add_flag("--json", a->json, "Print a JSON report on stdout");
  return [a, ctx](Output* out) { return RunKeyGenerate(*a, *ctx, out); };
}

}  // namespace ferry::cli
