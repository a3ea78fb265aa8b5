#include "engine/pipeline.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "util/log.h"
#include "util/posix.h"

namespace ferry {

namespace {

struct Block {
  uint8_t* data = nullptr;
  size_t len = 0;
  uint64_t seq = 0;
  std::atomic<int> refs{0};
};

struct Segment {
  Block* block;
  uint32_t off;
  uint32_t len;
};

// A bounded pool of I/O blocks. The reader takes, anyone releases.
class BlockPool {
 public:
  BlockPool(size_t count, size_t size) : size_(size), storage_(count) {
    for (auto& b : storage_) {
      b.data = static_cast<uint8_t*>(std::aligned_alloc(4096, size));
      if (!b.data) std::abort();
      free_.push_back(&b);
    }
  }
  ~BlockPool() {
    for (auto& b : storage_) std::free(b.data);
  }
  Block* TryTake() {
    std::lock_guard<std::mutex> l(mu_);
    if (free_.empty()) return nullptr;
    Block* b = free_.back();
    free_.pop_back();
    peak_ = std::max(peak_, storage_.size() - free_.size());
    return b;
  }
  // Until a block is free, or (with `cancel`) at most until it is cancelled.
  void WaitFree(const CancelToken* cancel) {
    std::unique_lock<std::mutex> l(mu_);
    while (free_.empty() && !Cancelled(cancel)) cv_.wait_for(l, std::chrono::milliseconds(50));
  }
  void Unref(Block* b) {
    if (b->refs.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> l(mu_);
      free_.push_back(b);
      cv_.notify_one();
    }
  }
  size_t count() const { return storage_.size(); }
  size_t peak() {
    std::lock_guard<std::mutex> l(mu_);
    return peak_;
  }
  size_t block_size() const { return size_; }

 private:
  size_t size_;
  std::deque<Block> storage_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Block*> free_;
  size_t peak_ = 0;
};

// Two-priority FIFO task queue served by the worker threads.
class TaskQueue {
 public:
  using Task = std::function<void()>;
  void Push(Task t, bool high) {
    {
      std::lock_guard<std::mutex> l(mu_);
      (high ? hi_ : lo_).push_back(std::move(t));
    }
    cv_.notify_one();
  }
  // Blocks; returns false at shutdown with nothing left.
  bool Pop(Task* t) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return shutdown_ || !hi_.empty() || !lo_.empty(); });
    auto& q = !hi_.empty() ? hi_ : lo_;
    if (q.empty()) return false;
    *t = std::move(q.front());
    q.pop_front();
    return true;
  }
  void Shutdown() {
    {
      std::lock_guard<std::mutex> l(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> hi_, lo_;
  bool shutdown_ = false;
};

enum Lane { kScanLane = 0, kShaLane = 1 };

struct LaneState {
  std::map<uint64_t, Block*> ready;  // guarded by FileState::mu
  uint64_t next_seq = 0;
  bool scheduled = false;
  bool finished = false;
};

struct FileState {
  explicit FileState(const ChunkerParams& p) : chunker(p) {}
  size_t index = 0;
  int fd = -1;
  uint64_t size = 0;
  uint64_t nblocks = 0;
  struct stat st_open {};
  // Reader-owned.
  uint64_t next_read_seq = 0;
  uint64_t reads_completed = 0;
  bool reader_failed = false;  // no more reads are submitted
  bool reader_done = false;    // the reader's reference on `pending` is released

  std::mutex mu;
  LaneState lanes[2];             // guarded by mu
  bool failed = false;            // guarded by mu
  Status error;                   // guarded by mu
  std::vector<ChunkInfo> chunks;  // guarded by mu
  // wants_chunks: each chunk's segments, set once it is hashed (chunks are
  // never empty), moved out when it is delivered.
  std::vector<std::vector<Segment>> chunk_segs;  // guarded by mu
  size_t delivered = 0;                          // guarded by mu: chunks handed to OnChunk
  uint64_t delivered_bytes = 0;                  // guarded by mu
  bool wants_chunks = false;                     // the file sink's OnChunk, in order
  std::mutex deliver_mu;                         // one OnChunk at a time, in order

  bool need_file_sha = true;    // false: the file is one chunk, its SHA is the chunk's
  std::atomic<int> pending{0};  // reader + lanes + chunk tasks not yet done

  // Scan-lane-owned.
  Chunker chunker;
  std::vector<Segment> cur;
  uint64_t cur_len = 0;
  Xxh3 xxh;
  Xxh128 xxh_digest{};
  // SHA-lane-owned.
  Sha256 sha;
  Digest sha_digest{};
};

class Pipeline {
 public:
  Pipeline(const std::vector<SourceFile>& files, const PipelineOptions& opts, ChunkSink* sink,
           std::vector<FileDigest>* results, std::atomic<uint64_t>* progress, size_t nblocks,
           unsigned threads, FileSink* file_sink)
      : files_(files),
        opts_(opts),
        sink_(sink),
        results_(results),
        progress_(progress),
        file_sink_(file_sink),
        pool_(nblocks, opts.block_size),
        threads_(threads) {}

  Status Run(PipelineStats* stats) {
    results_->assign(files_.size(), FileDigest{});
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < threads_; i++) workers.emplace_back([this] { WorkerLoop(); });

    bool uring_ok = false;
    threaded_ = std::any_of(files_.begin(), files_.end(),
                            [](const SourceFile& f) { return f.remote != nullptr; });
    if (threaded_) {
      // Remote reads block on a network round trip each: several threads keep
      // enough of them in flight (local files among them are read with pread).
      unsigned n = 1;
      for (const auto& f : files_)
        if (f.remote) n = std::max(n, f.remote->PreferredConcurrency());
      io_threads_ = n;
      for (unsigned i = 0; i < n; i++) io_pool_.emplace_back([this] { IoThreadLoop(); });
    } else if (opts_.io != IoBackend::kPread) {
      int rc = io_uring_queue_init(std::max(1u, opts_.queue_depth), &ring_, 0);
      if (rc == 0) {
        uring_ok = true;
      } else if (opts_.io == IoBackend::kUring) {
        stop_error_ = PosixError("io_uring is unavailable", -rc, Code::kInternal);
      } else {
        LogInfo(std::string("io_uring is unavailable (") + std::strerror(-rc) +
                "); reading with pread instead");
      }
    }
    use_uring_ = uring_ok;
    if (stop_error_.ok()) ReaderLoop();

    if (use_uring_) io_uring_queue_exit(&ring_);
    if (threaded_) {
      {
        std::lock_guard<std::mutex> l(io_mu_);
        io_shutdown_ = true;
      }
      io_cv_.notify_all();
      for (auto& t : io_pool_) t.join();
    }
    {
      std::unique_lock<std::mutex> l(live_mu_);
      live_cv_.wait(l, [&] { return live_files_ == 0; });
    }
    queue_.Shutdown();
    for (auto& t : workers) t.join();

    stats->bytes_read = bytes_read_.load();
    stats->chunks = chunks_.load();
    stats->io_blocks = pool_.count();
    stats->peak_blocks_used = pool_.peak();
    stats->io_backend = threaded_ ? "threads" : use_uring_ ? "io_uring" : "pread";
    std::lock_guard<std::mutex> l(stop_mu_);
    return stop_error_;
  }

 private:
  struct ReadReq {
    FileState* f;
    Block* b;
    uint64_t offset;
    size_t want;
    size_t got;
    // Threaded reads: how it ended.
    int err = 0;
    bool eof = false;
    Status remote_error;
  };

  bool Stopped() const { return stopped_.load(std::memory_order_relaxed); }

  void Stop(const Status& st) {
    std::lock_guard<std::mutex> l(stop_mu_);
    if (stop_error_.ok()) stop_error_ = st;
    stopped_ = true;
  }

  // ---- reader thread ----------------------------------------------------

  void ReaderLoop() {
    size_t next_file = 0;
    unsigned inflight = 0;
    const unsigned qd = use_uring_ ? std::max(1u, opts_.queue_depth) : threaded_ ? io_threads_ : 1;
    for (;;) {
      if (Cancelled(opts_.cancel) && !Stopped()) Stop(opts_.cancel->Check("reading the sources"));
      if (Stopped()) AbandonRemaining(&next_file);
      while (inflight < qd && !Stopped()) {
        if (!cur_) {
          if (next_file == files_.size()) break;
          cur_ = OpenFile(next_file++);
          continue;
        }
        if (cur_->next_read_seq == cur_->nblocks || cur_->reader_failed) {
          cur_ = nullptr;
          continue;
        }
        Block* b = pool_.TryTake();
        if (!b) break;
        auto* req = new ReadReq{cur_, b, cur_->next_read_seq * opts_.block_size, 0, 0};
        b->seq = cur_->next_read_seq++;
        req->want =
            static_cast<size_t>(std::min<uint64_t>(opts_.block_size, cur_->size - req->offset));
        if (use_uring_) {
          SubmitRead(req);
          inflight++;
        } else if (threaded_) {
          SubmitThreaded(req);
          inflight++;
        } else {
          PreadBlock(req);
        }
      }
      if (use_uring_ && inflight > 0) io_uring_submit(&ring_);
      if (inflight == 0) {
        if (Stopped()) {
          AbandonRemaining(&next_file);  // the stop may have come after the check above
          break;
        }
        if (!cur_ && next_file == files_.size()) break;
        pool_.WaitFree(opts_.cancel);
        continue;
      }
      if (threaded_) {
        for (ReadReq* req : WaitThreaded()) {
          FinishRead(req, req->err, req->eof);
          inflight--;
        }
        continue;
      }
      struct io_uring_cqe* cqe;
      int rc = io_uring_wait_cqe(&ring_, &cqe);
      if (rc == -EINTR) continue;
      if (rc < 0) {
        Stop(PosixError("io_uring wait failed", -rc, Code::kInternal));
        continue;
      }
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        seen++;
        auto* req = static_cast<ReadReq*>(io_uring_cqe_get_data(cqe));
        if (!CompleteRead(req, cqe->res)) continue;  // resubmitted
        inflight--;
      }
      io_uring_cq_advance(&ring_, seen);
    }
  }

  // After a stop: fails the file being read and marks the unopened ones.
  void AbandonRemaining(size_t* next_file) {
    if (cur_) {
      FileState* f = cur_;
      cur_ = nullptr;
      FailFile(f, stop_status());
      MaybeReaderDone(f);
    }
    for (; *next_file < files_.size(); (*next_file)++)
      (*results_)[*next_file].status = stop_status();
  }

  Status stop_status() {
    std::lock_guard<std::mutex> l(stop_mu_);
    return stop_error_;
  }

  void SubmitRead(ReadReq* req) {
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    io_uring_prep_read(sqe, req->f->fd, req->b->data + req->got,
                       static_cast<unsigned>(req->want - req->got), req->offset + req->got);
    io_uring_sqe_set_data(sqe, req);
  }

  // Handles one completion; false if the request was resubmitted.
  bool CompleteRead(ReadReq* req, int res) {
    if (res == -EAGAIN || res == -EINTR) {
      SubmitRead(req);
      return false;
    }
    if (res > 0 && req->got + static_cast<size_t>(res) < req->want) {
      req->got += static_cast<size_t>(res);  // short read: ask for the rest
      SubmitRead(req);
      return false;
    }
    FinishRead(req, res < 0 ? -res : 0, res == 0);
    return true;
  }

  // ---- threaded reads (some files are remote) ----------------------------

  void SubmitThreaded(ReadReq* req) {
    {
      std::lock_guard<std::mutex> l(io_mu_);
      io_todo_.push_back(req);
    }
    io_cv_.notify_one();
  }

  // Blocks until at least one threaded read is done; returns every one that is.
  std::vector<ReadReq*> WaitThreaded() {
    std::unique_lock<std::mutex> l(io_mu_);
    done_cv_.wait(l, [&] { return !io_done_.empty(); });
    std::vector<ReadReq*> out(io_done_.begin(), io_done_.end());
    io_done_.clear();
    return out;
  }

  void IoThreadLoop() {
    for (;;) {
      ReadReq* req;
      {
        std::unique_lock<std::mutex> l(io_mu_);
        io_cv_.wait(l, [&] { return io_shutdown_ || !io_todo_.empty(); });
        if (io_todo_.empty()) return;
        req = io_todo_.front();
        io_todo_.pop_front();
      }
      const SourceFile& sf = files_[req->f->index];
      if (sf.remote) {
        req->remote_error = sf.remote->ReadAt(sf, req->offset, req->b->data, req->want);
        if (req->remote_error.ok()) req->got = req->want;
      } else {
        ReadFully(req, &req->err, &req->eof);
      }
      {
        std::lock_guard<std::mutex> l(io_mu_);
        io_done_.push_back(req);
      }
      done_cv_.notify_one();
    }
  }

  void PreadBlock(ReadReq* req) {
    int err = 0;
    bool eof = false;
    ReadFully(req, &err, &eof);
    FinishRead(req, err, eof);
  }

  // pread until the block is full, the file ends early, or an error.
  static void ReadFully(ReadReq* req, int* err_out, bool* eof_out) {
    int err = 0;
    bool eof = false;
    while (req->got < req->want) {
      ssize_t n = pread(req->f->fd, req->b->data + req->got, req->want - req->got,
                        static_cast<off_t>(req->offset + req->got));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        err = errno;
        break;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      req->got += static_cast<size_t>(n);
    }
    *err_out = err;
    *eof_out = eof;
  }

  void FinishRead(ReadReq* req, int err, bool early_eof) {
    FileState* f = req->f;
    Block* b = req->b;
    const std::string& path = files_[f->index].path;
    if (!req->remote_error.ok()) {
      b->refs = 1;
      pool_.Unref(b);
      FailFile(f, req->remote_error);
    } else if (err != 0) {
      b->refs = 1;
      pool_.Unref(b);
      FailFile(f, PosixError("cannot read " + path, err, Code::kSourceUnreadable));
    } else if (early_eof) {
      b->refs = 1;
      pool_.Unref(b);
      FailFile(
          f, Status::SourceUnreadable(
                 path +
                 " shrank while it was being read; re-run when the build has finished writing it"));
    } else {
      b->len = req->want;
      bytes_read_ += b->len;
      Deliver(f, b);
    }
    f->reads_completed++;
    delete req;
    MaybeReaderDone(f);
  }

  // Releases the reader's reference on a file once no read of it is in flight
  // and none will be submitted. The last completed read also checks that the
  // file did not change while it was read.
  void MaybeReaderDone(FileState* f) {
    if (f->reader_done || f->reads_completed != f->next_read_seq) return;
    if (f->next_read_seq != f->nblocks && !f->reader_failed) return;
    f->reader_done = true;
    if (cur_ == f) cur_ = nullptr;
    if (f->fd < 0) {  // remote: every read checked the object's version
      DecPending(f);
      return;
    }
    struct stat st;
    if (!f->reader_failed && fstat(f->fd, &st) == 0 &&
        (st.st_size != f->st_open.st_size || st.st_mtim.tv_sec != f->st_open.st_mtim.tv_sec ||
         st.st_mtim.tv_nsec != f->st_open.st_mtim.tv_nsec)) {
      FailFile(
          f,
          Status::SourceUnreadable(
              files_[f->index].path +
              " changed while it was being read; re-run when the build has finished writing it"));
    }
    close(f->fd);
    f->fd = -1;
    DecPending(f);
  }

  FileState* OpenFile(size_t i) {
    const SourceFile& sf = files_[i];
    FileDigest& r = (*results_)[i];
    if (sf.remote) return StartFile(i, -1, sf.size);
    int fd = open(sf.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      r.status = PosixError("cannot open " + sf.path, errno, Code::kSourceUnreadable);
      if (r.status.code() == Code::kNotFound)
        r.status = Status::SourceUnreadable("cannot open " + sf.path +
                                            ": it was deleted after it was listed");
      return nullptr;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      r.status = Status::SourceUnreadable(sf.path + " is no longer a readable regular file");
      close(fd);
      return nullptr;
    }
    FileState* f = StartFile(i, fd, static_cast<uint64_t>(st.st_size));
    if (f) {
      f->st_open = st;
      posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return f;
  }

  // The state of file i, open as `fd` (-1: remote) with `size` bytes to read;
  // null for an empty file, whose digests are set here.
  FileState* StartFile(size_t i, int fd, uint64_t size) {
    if (size == 0) {
      if (fd >= 0) close(fd);
      FileDigest& r = (*results_)[i];
      r.sha256 = Sha256::Of("", 0);
      r.xxh3 = Xxh3::Of("", 0);
      return nullptr;
    }
    auto f = std::make_unique<FileState>(opts_.chunking);
    f->index = i;
    f->fd = fd;
    f->size = size;
    f->nblocks = (f->size + opts_.block_size - 1) / opts_.block_size;
    f->need_file_sha = f->size > opts_.chunking.min_size;
    f->wants_chunks = file_sink_ && file_sink_->WantsChunks(f->index);
    f->lanes[kShaLane].finished = !f->need_file_sha;
    f->pending = 1 + (f->need_file_sha ? 2 : 1);  // reader + lanes
    {
      std::lock_guard<std::mutex> l(live_mu_);
      live_files_++;
    }
    return f.release();
  }

  // Marks a file failed (reader thread only); lanes that are not running
  // finish now, running ones notice at their next block.
  void FailFile(FileState* f, const Status& st) {
    f->reader_failed = true;
    int finished = 0;
    {
      std::lock_guard<std::mutex> l(f->mu);
      if (!f->failed) {
        f->failed = true;
        f->error = st;
      }
      for (int i = 0; i < 2; i++) {
        LaneState& lane = f->lanes[i];
        if (lane.finished || lane.scheduled) continue;
        for (auto& kv : lane.ready) pool_.Unref(kv.second);
        lane.ready.clear();
        if (i == kScanLane) {  // the lane is idle, so its partial chunk is ours to drop
          for (auto& seg : f->cur) pool_.Unref(seg.block);
          f->cur.clear();
        }
        lane.finished = true;
        finished++;
      }
    }
    for (int i = 0; i < finished; i++) DecPending(f);
  }

  void Deliver(FileState* f, Block* b) {
    std::lock_guard<std::mutex> l(f->mu);
    int lanes_active = 0;
    for (auto& lane : f->lanes)
      if (!lane.finished) lanes_active++;
    if (f->failed || lanes_active == 0) {
      b->refs = 1;
      pool_.Unref(b);
      return;
    }
    b->refs = lanes_active;
    for (int i = 0; i < 2; i++) {
      LaneState& lane = f->lanes[i];
      if (lane.finished) continue;
      lane.ready.emplace(b->seq, b);
      if (!lane.scheduled && lane.ready.count(lane.next_seq)) {
        lane.scheduled = true;
        queue_.Push([this, f, i] { RunLane(f, static_cast<Lane>(i)); }, false);
      }
    }
  }

  // ---- workers ------------------------------------------------------------

  void WorkerLoop() {
    TaskQueue::Task t;
    while (queue_.Pop(&t)) t();
  }

  void RunLane(FileState* f, Lane lane_id) {
    LaneState& lane = f->lanes[lane_id];
    for (;;) {
      Block* b = nullptr;
      {
        std::lock_guard<std::mutex> l(f->mu);
        if (f->failed) {
          for (auto& kv : lane.ready) pool_.Unref(kv.second);
          lane.ready.clear();
          lane.scheduled = false;
          lane.finished = true;
        } else {
          auto it = lane.ready.find(lane.next_seq);
          if (it == lane.ready.end()) {
            lane.scheduled = false;
            return;
          }
          b = it->second;
          lane.ready.erase(it);
          lane.next_seq++;
        }
      }
      if (!b) {  // failed
        if (lane_id == kScanLane) {
          for (auto& s : f->cur) pool_.Unref(s.block);
          f->cur.clear();
        }
        DecPending(f);
        return;
      }
      bool last = b->seq + 1 == f->nblocks;
      if (lane_id == kScanLane) {
        ScanBlock(f, b, last);
      } else {
        f->sha.Update(b->data, b->len);
        if (last) f->sha_digest = f->sha.Finish();
      }
      pool_.Unref(b);
      if (last) {
        {
          std::lock_guard<std::mutex> l(f->mu);
          lane.scheduled = false;
          lane.finished = true;
        }
        DecPending(f);
        return;
      }
    }
  }

  void ScanBlock(FileState* f, Block* b, bool last) {
    if (file_sink_ && !Stopped()) {
      Status st = file_sink_->OnData(f->index, b->seq * opts_.block_size, b->data, b->len);
      if (!st.ok()) Stop(st);
    }
    f->xxh.Update(b->data, b->len);
    size_t off = 0;
    while (off < b->len) {
      bool cut;
      size_t n = f->chunker.Scan(b->data + off, b->len - off, &cut);
      b->refs++;
      f->cur.push_back(Segment{b, static_cast<uint32_t>(off), static_cast<uint32_t>(n)});
      f->cur_len += n;
      off += n;
      if (cut) EmitChunk(f, /*inline_run=*/false);
    }
    if (progress_) progress_->fetch_add(b->len, std::memory_order_relaxed);
    if (last) {
      if (f->cur_len > 0) EmitChunk(f, /*inline_run=*/true);
      f->xxh_digest = f->xxh.Finish();
    }
  }

  void EmitChunk(FileState* f, bool inline_run) {
    uint32_t idx;
    {
      std::lock_guard<std::mutex> l(f->mu);
      idx = static_cast<uint32_t>(f->chunks.size());
      f->chunks.emplace_back();
      if (f->wants_chunks) f->chunk_segs.emplace_back();
    }
    f->pending++;
    auto segs = std::make_shared<std::vector<Segment>>(std::move(f->cur));
    uint32_t len = static_cast<uint32_t>(f->cur_len);
    f->cur.clear();
    f->cur_len = 0;
    if (inline_run) {
      RunChunk(f, idx, *segs, len);
    } else {
      queue_.Push([this, f, idx, segs, len] { RunChunk(f, idx, *segs, len); }, true);
    }
  }

  void RunChunk(FileState* f, uint32_t idx, const std::vector<Segment>& segs, uint32_t len) {
    thread_local Sha256 sha;
    thread_local std::vector<uint8_t> buf;
    for (const auto& s : segs) sha.Update(s.block->data + s.off, s.len);
    Digest id = sha.Finish();
    if (Cancelled(opts_.cancel) && !Stopped()) Stop(opts_.cancel->Check("reading the sources"));
    if (!Stopped() && sink_->Want(id, len)) {
      const uint8_t* data;
      if (segs.size() == 1) {
        data = segs[0].block->data + segs[0].off;
      } else {
        buf.resize(len);
        size_t at = 0;
        for (const auto& s : segs) {
          std::memcpy(buf.data() + at, s.block->data + s.off, s.len);
          at += s.len;
        }
        data = buf.data();
      }
      Status st = sink_->Put(id, data, len);
      if (!st.ok()) Stop(st);
    }
    // A file sink that wants chunks gets their bytes too: the blocks stay
    // pinned until the chunk is handed over, in order.
    if (!f->wants_chunks)
      for (const auto& s : segs) pool_.Unref(s.block);
    chunks_++;
    {
      std::lock_guard<std::mutex> l(f->mu);
      f->chunks[idx] = ChunkInfo{id, len};
      if (f->wants_chunks) f->chunk_segs[idx] = segs;
    }
    if (f->wants_chunks) DeliverChunks(f);
    DecPending(f);
  }

  // Hands every hashed chunk that is next in file order to OnChunk, with its
  // bytes, then releases its blocks.
  void DeliverChunks(FileState* f) {
    std::lock_guard<std::mutex> d(f->deliver_mu);
    std::vector<std::string_view> views;
    for (;;) {
      ChunkInfo c;
      uint64_t offset;
      std::vector<Segment> segs;
      {
        std::lock_guard<std::mutex> l(f->mu);
        if (f->delivered == f->chunks.size() || f->chunk_segs[f->delivered].empty()) return;
        segs = std::move(f->chunk_segs[f->delivered]);
        c = f->chunks[f->delivered++];
        offset = f->delivered_bytes;
        f->delivered_bytes += c.size;
      }
      if (!Stopped()) {
        views.clear();
        for (const auto& s : segs)
          views.emplace_back(reinterpret_cast<const char*>(s.block->data) + s.off, s.len);
        file_sink_->OnChunk(f->index, offset, c, views);
      }
      for (const auto& s : segs) pool_.Unref(s.block);
    }
  }

  void DecPending(FileState* f) {
    if (f->pending.fetch_sub(1) != 1) return;
    FileDigest& r = (*results_)[f->index];
    {
      std::lock_guard<std::mutex> l(f->mu);
      if (f->failed) {
        r.status = f->error;
      } else {
        r.xxh3 = f->xxh_digest;
        r.chunks = std::move(f->chunks);
        r.sha256 = f->need_file_sha ? f->sha_digest : r.chunks.at(0).id;
      }
    }
    if (file_sink_) file_sink_->OnFileDone(f->index, r);
    delete f;
    std::lock_guard<std::mutex> l(live_mu_);
    if (--live_files_ == 0) live_cv_.notify_all();
  }

  const std::vector<SourceFile>& files_;
  const PipelineOptions& opts_;
  ChunkSink* sink_;
  std::vector<FileDigest>* results_;
  std::atomic<uint64_t>* progress_;
  FileSink* file_sink_;
  BlockPool pool_;
  unsigned threads_;
  TaskQueue queue_;
  struct io_uring ring_ {};
  bool use_uring_ = false;
  // Threaded reads: io_todo_ -> an I/O thread -> io_done_ -> the reader.
  bool threaded_ = false;
  unsigned io_threads_ = 0;
  std::vector<std::thread> io_pool_;
  std::mutex io_mu_;
  std::condition_variable io_cv_, done_cv_;
  std::deque<ReadReq*> io_todo_, io_done_;  // guarded by io_mu_
  bool io_shutdown_ = false;                // guarded by io_mu_
  FileState* cur_ = nullptr;                // reader-owned: the file being read

  std::mutex stop_mu_;
  Status stop_error_;  // guarded by stop_mu_
  std::atomic<bool> stopped_{false};

  std::mutex live_mu_;
  std::condition_variable live_cv_;
  size_t live_files_ = 0;  // guarded by live_mu_

  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> chunks_{0};
};

unsigned ThreadCount(const PipelineOptions& opts) {
  return opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
}

size_t BlockCount(const PipelineOptions& opts, size_t sink_per_thread, size_t* reserved) {
  *reserved = ThreadCount(opts) * (static_cast<size_t>(opts.chunking.max_size) + sink_per_thread);
  if (*reserved >= opts.memory_budget) return 0;
  return (opts.memory_budget - *reserved) / opts.block_size;
}

}  // namespace

Status ValidatePipelineOptions(const PipelineOptions& opts, size_t sink_per_thread) {
  RETURN_IF_ERROR(opts.chunking.Validate());
  if (opts.block_size < 4096 || opts.block_size > (64u << 20) || opts.block_size % 4096)
    return Status::Usage("I/O block size must be a multiple of 4 KiB between 4 KiB and 64 MiB");
  size_t reserved;
  size_t blocks = BlockCount(opts, sink_per_thread, &reserved);
  // One chunk may span max_size/block_size + 1 blocks; a few more keep reads going.
  size_t needed = opts.chunking.max_size / opts.block_size + 4;
  if (blocks < needed) {
    size_t need_bytes = reserved + needed * opts.block_size;
    return Status::Usage("memory budget of " + std::to_string(opts.memory_budget >> 20) +
                         " MiB is too small for " + std::to_string(ThreadCount(opts)) +
                         " threads with these chunk sizes: give at least " +
                         std::to_string((need_bytes >> 20) + 1) +
                         " MiB (--memory), fewer threads, or a smaller maximum chunk size");
  }
  return Status::OK();
}

Status RunPipeline(const std::vector<SourceFile>& files, const PipelineOptions& opts,
                   ChunkSink* sink, std::vector<FileDigest>* results, PipelineStats* stats,
                   std::atomic<uint64_t>* progress_bytes, FileSink* file_sink) {
  RETURN_IF_ERROR(ValidatePipelineOptions(opts, sink->PerThreadMemory()));
  size_t reserved;
  size_t blocks = BlockCount(opts, sink->PerThreadMemory(), &reserved);
  Pipeline p(files, opts, sink, results, progress_bytes, blocks, ThreadCount(opts), file_sink);
  return p.Run(stats);
}

}  // namespace ferry
