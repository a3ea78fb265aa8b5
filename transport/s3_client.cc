#include "transport/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <pugixml.hpp>
#include <random>
#include <thread>

#include "crypto/hash.h"
#include "transport/aws/credentials.h"
#include "transport/s3_rules.h"
#include "util/log.h"
#include "util/text.h"

namespace ferry {

namespace {

std::once_flag g_curl_init;

// A request body in pieces (chunk headers and views of the payload), read by
// curl without first copying the payload into one string.
struct PieceReader {
  std::deque<std::string> heads;         // owned: chunk headers (stable addresses)
  std::vector<std::string_view> pieces;  // in order: heads and payload views
  size_t piece = 0, at = 0;
  RateLimiter* limit = nullptr;  // --bwlimit
  size_t Total() const {
    size_t t = 0;
    for (auto p : pieces) t += p.size();
    return t;
  }
};

size_t ReadPieces(char* out, size_t size, size_t n, void* ud) {
  auto* r = static_cast<PieceReader*>(ud);
  size_t want = size * n, done = 0;
  while (done < want && r->piece < r->pieces.size()) {
    std::string_view p = r->pieces[r->piece];
    size_t k = std::min(want - done, p.size() - r->at);
    std::memcpy(out + done, p.data() + r->at, k);
    done += k;
    r->at += k;
    if (r->at == p.size()) {
      r->piece++;
      r->at = 0;
    }
  }
  if (r->limit) r->limit->Take(done);
  return done;
}

int SeekPieces(void* ud, curl_off_t offset, int origin) {
  auto* r = static_cast<PieceReader*>(ud);
  if (origin != SEEK_SET || offset != 0) return CURL_SEEKFUNC_CANTSEEK;
  r->piece = r->at = 0;  // curl rewinds to resend on a fresh connection
  return CURL_SEEKFUNC_OK;
}

int AbortIfCancelled(void* token, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const CancelToken*>(token)->cancelled() ? 1 : 0;
}

// Where a response body goes, through the download limit if there is one.
struct BodySink {
  std::string* out;
  RateLimiter* limit;
};

size_t WriteBody(char* p, size_t size, size_t n, void* ud) {
  auto* s = static_cast<BodySink*>(ud);
  s->out->append(p, size * n);
  if (s->limit) s->limit->Take(size * n);
  return size * n;
}

size_t WriteHeader(char* p, size_t size, size_t n, void* ud) {
  std::string line(p, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(ud))[name] = value;
  }
  return size * n;
}

// Parses an S3 XML response body; a body that is not XML is a store error naming `what`.
Status LoadXml(const std::string& body, pugi::xml_document* doc, const std::string& what) {
  if (!doc->load_buffer(body.data(), body.size()))
    return Status::StoreUnavailable(what + ": unparseable XML response");
  return Status::OK();
}

// Whether an XML reply is an S3 <Error> document (its root element is Error).
bool IsErrorDocument(const std::string& body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return false;
  return std::string_view(doc.document_element().name()) == "Error";
}

std::string XmlText(const std::string& body, const char* element) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return "";
  return doc.select_node((std::string("//") + element).c_str()).node().text().as_string();
}

}  // namespace

void AdaptiveLimit::OnThrottle() {
  unsigned cur = limit_.load();
  while (!limit_.compare_exchange_weak(cur, std::max(1u, cur / 2))) {
  }
  successes_ = 0;
  unsigned low = lowest_.load(), now = limit_.load();
  while (now < low && !lowest_.compare_exchange_weak(low, now)) {
  }
}

void AdaptiveLimit::OnSuccess() {
  if (++successes_ < recover_after_) return;
  successes_ = 0;
  unsigned cur = limit_.load();
  while (cur < max_ && !limit_.compare_exchange_weak(cur, cur + 1)) {
  }
}

bool IsRetryableS3Error(long http_status, const std::string& code) {
  if (code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
      code == "ServiceUnavailable" || code == "OperationAborted")
    return true;
  return http_status >= 500 || http_status == 429 || http_status == 408;
}

Status S3ErrorStatus(long http_status, const std::string& body, const std::string& what) {
  std::string code = XmlText(body, "Code");
  std::string message = XmlText(body, "Message");
  std::string detail = what + ": HTTP " + std::to_string(http_status) +
                       (code.empty() ? "" : " " + code) +
                       (message.empty() ? "" : " (" + message + ")");
  if (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code == "AccessDenied" ||
      code == "ExpiredToken" || code == "InvalidToken" || (code.empty() && http_status == 403))
    return Status::Auth(
        detail +
        "; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the profile) for this endpoint");
  if (code == "RequestTimeTooSkewed")
    return Status::Auth(detail + "; this machine's clock is off: sync it (NTP) and run again");
  if (code == "NoSuchBucket")
    return Status::StoreUnavailable(detail + "; create the bucket or fix the s3:// URL");
  if (code == "NoSuchKey" || code == "NoSuchUpload" || (body.empty() && http_status == 404))
    return Status::NotFound(detail);  // (a HEAD's 404 has no body)
  if (code.empty() && http_status == 404)
    return Status::StoreUnavailable(detail +
                                    "; the answer is not an S3 error document: is the endpoint "
                                    "(--endpoint-url, AWS_ENDPOINT_URL) an S3 server?");
  if (code == "PreconditionFailed" || code == "ConditionalRequestConflict" || http_status == 412)
    return Status::Conflict(detail + "; another writer changed it first");
  if (code == "QuotaExceeded" || code == "EntityTooLarge")
    return Status::NoSpace(detail + "; raise the bucket quota or free space");
  if (code == "XAmzContentSHA256Mismatch" || code == "BadDigest" || code == "InvalidDigest")
    // Our bytes are as they were hashed; the copy on the wire was not: send
    // it again. If every attempt is rejected, it is reported as data loss.
    return Status::VerifyFailed(detail + "; the body changed in flight and the server rejected it")
        .SetDataLoss()
        .SetRetryable();
  Status st = Status::StoreUnavailable(detail);
  if (IsRetryableS3Error(http_status, code)) st.SetRetryable();
  return st;
}

S3Client::S3Client(S3Config config) : config_(std::move(config)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  loop_ = std::make_unique<CurlLoop>(config_.max_connections);
  std::string e = config_.endpoint;
  size_t p = e.find("://");
  scheme_ = p == std::string::npos ? "https" : e.substr(0, p);
  host_ = p == std::string::npos ? e : e.substr(p + 3);
  while (!host_.empty() && host_.back() == '/') host_.pop_back();
}

Result<HttpResponse> S3Client::Send(const Request& req) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  Status last;
  const std::string what = req.method + " s3://" + req.bucket + "/" + req.key;
  if (config_.read_only && req.method != "GET" && req.method != "HEAD")
    return Status::Internal("refused to send " + what +
                            ": this client is read-only (a dry run writes nothing); please report "
                            "this as a Ferry bug");
  for (int attempt = 1; attempt <= config_.max_attempts; attempt++) {
    if (Cancelled(config_.cancel)) return config_.cancel->Check(what);
    auto now = std::chrono::system_clock::now();
    long long secs =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    auto r = SendOnce(req, AmzDate(secs), what);
    if (r.ok()) return r;
    last = r.take_status();
    if (!last.retryable() || attempt == config_.max_attempts) break;
    if (last.data_loss())
      LogWarn(last.message() + "; sending it again (attempt " + std::to_string(attempt + 1) + ")");
    // Full jitter: sleep a random time up to 100 ms * 2^attempt, capped at 20 s.
    long cap = std::min<long>(20000, 100L << attempt);
    long ms = static_cast<long>(rng() % static_cast<unsigned long>(cap));
    LogDebug("retrying after " + std::to_string(ms) + " ms: " + last.message());
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until && !Cancelled(config_.cancel))
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long>(ms, 20)));
  }
  return last;
}

Result<HttpResponse> S3Client::SendOnce(const Request& req, const std::string& amz_date,
                                        const std::string& what) {
  std::string path = "/";
  std::string host = host_;
  if (config_.path_style) {
    path += req.bucket;
    if (!req.key.empty()) path += "/" + req.key;
  } else {
    host = req.bucket + "." + host_;
    path += req.key;
  }
  const bool streaming = !req.stream_chunks.empty();
  std::string payload_hash = streaming                      ? kStreamingPayload
                             : !req.body_sha256_hex.empty() ? req.body_sha256_hex
                                                            : DigestHex(Sha256::Of(req.body));
  SigV4Request sreq;
  sreq.method = req.method;
  sreq.path = path;
  sreq.query = req.query;
  sreq.headers = req.headers;
  if (streaming) {
    sreq.headers.emplace_back("content-encoding", "aws-chunked");
    sreq.headers.emplace_back("x-amz-decoded-content-length", std::to_string(req.body.size()));
  }
  sreq.headers.emplace_back("host", host);
  sreq.headers.emplace_back("x-amz-date", amz_date);
  sreq.headers.emplace_back("x-amz-content-sha256", payload_hash);
  if (!config_.credentials) return Status::Auth("no AWS credentials configured");
  ASSIGN_OR_RETURN(const AwsCredentials creds, config_.credentials->Get());
  if (!creds.session_token.empty())
    sreq.headers.emplace_back("x-amz-security-token", creds.session_token);
  sreq.payload_sha256_hex = payload_hash;
  SigV4Result sig = SignV4(sreq, creds, config_.region, "s3", amz_date);
  // The streaming body: each piece behind its chained signature.
  PieceReader chunked;
  if (streaming) {
    std::string prev = sig.signature;
    size_t at = 0;
    auto piece = [&](size_t n, const std::string& sha_hex) {
      prev = SignV4Chunk(prev, sha_hex, creds, config_.region, "s3", amz_date);
      char size_hex[32];
      std::snprintf(size_hex, sizeof size_hex, "%zx", n);
      chunked.heads.push_back(std::string(at == 0 ? "" : "\r\n") + size_hex +
                              ";chunk-signature=" + prev + "\r\n");
      chunked.pieces.push_back(chunked.heads.back());
      chunked.pieces.push_back(req.body.substr(at, n));
      at += n;
    };
    for (const auto& c : req.stream_chunks) piece(c.size, DigestHex(c.sha256));
    if (at != req.body.size())
      return Status::Internal("chunked body pieces cover " + std::to_string(at) + " of " +
                              std::to_string(req.body.size()) + " bytes");
    piece(0, DigestHex(Sha256::Of("", 0)));
    chunked.heads.push_back(
        "\r\n");  // after the empty final chunk: "0;chunk-signature=...\r\n\r\n"
    chunked.pieces.push_back(chunked.heads.back());
  }

  std::string url = scheme_ + "://" + host + UriEncode(path, false);
  std::string query;
  {
    std::vector<std::pair<std::string, std::string>> q;
    for (const auto& [k, v] : req.query) q.emplace_back(UriEncode(k, true), UriEncode(v, true));
    std::sort(q.begin(), q.end());
    for (const auto& [k, v] : q) query += (query.empty() ? "?" : "&") + k + "=" + v;
  }
  url += query;

  CURL* h = loop_->Acquire();
  struct ReleaseHandle {
    CurlLoop* loop;
    CURL* h;
    ~ReleaseHandle() { loop->Release(h); }
  } release{loop_.get(), h};
  struct curl_slist* hdrs = nullptr;
  for (const auto& [k, v] : sreq.headers)  // "name;" is how curl sends a header with no value
    if (k != "host") hdrs = curl_slist_append(hdrs, (v.empty() ? k + ";" : k + ": " + v).c_str());
  hdrs = curl_slist_append(hdrs, ("Authorization: " + sig.authorization).c_str());
  hdrs = curl_slist_append(hdrs, "Expect:");
  bool typed = false;
  for (const auto& [k, v] : sreq.headers) typed |= k == "content-type";
  if ((req.method == "PUT" || req.method == "POST") && !typed)
    hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
  HttpResponse resp;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  BodySink sink{&resp.body, config_.download_limit.get()};
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp.headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, config_.timeout_seconds);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  // A server that stops reading or answering (a hung or full cluster) fails
  // the attempt after a minute, which is then retried, not after the timeout.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (config_.cancel) {  // aborts a transfer in flight once cancelled
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, AbortIfCancelled);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, config_.cancel);
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, config_.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, config_.verify_tls ? 2L : 0L);
  if (!config_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_.ca_bundle.c_str());
  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    // A limited upload goes through the reader, which takes from the limit.
    bool via_reader = streaming;
    if (!streaming && config_.upload_limit && req.body.size() >= (64u << 10)) {
      chunked.pieces = {std::string_view(req.body)};
      via_reader = true;
    }
    chunked.limit = config_.upload_limit.get();
    if (via_reader) {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, kCurlUploadBuffer);  // fewer, larger sends
      curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadPieces);
      curl_easy_setopt(h, CURLOPT_READDATA, &chunked);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, SeekPieces);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &chunked);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(chunked.Total()));
    } else {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
  CURLcode rc = loop_->Perform(h);
  curl_slist_free_all(hdrs);
  if (rc == CURLE_ABORTED_BY_CALLBACK && Cancelled(config_.cancel))
    return config_.cancel->Check(what);
  if (rc != CURLE_OK) {
    Status st = Status::StoreUnavailable(what + ": " + curl_easy_strerror(rc) + " (endpoint " +
                                         config_.endpoint + ")");
    // Connection problems may pass; certificate problems will not.
    if (rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CACERT_BADFILE &&
        rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT)
      st.SetRetryable();
    return st;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  if (resp.status == 503) throttled_++;
  if (resp.status >= 200 && resp.status < 300) {
    // CompleteMultipartUpload and the copies can fail with 200 and an error
    // document: recognised by parsing an XML reply, never by looking into bytes.
    if (req.xml_reply && IsErrorDocument(resp.body)) return S3ErrorStatus(500, resp.body, what);
    return resp;
  }
  return S3ErrorStatus(resp.status, resp.body, what);
}

Status S3Client::PutObject(const std::string& bucket, const std::string& key, std::string_view data,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           const Digest* sha, std::string* etag, std::string* version_id) {
  Digest digest = sha ? *sha : Sha256::Of(data.data(), data.size());
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = key;
  r.body = data;
  r.body_sha256_hex = DigestHex(digest);
  r.headers = headers;
  r.headers.emplace_back("x-amz-checksum-sha256", Base64(digest.data(), digest.size()));
  auto resp = Send(r);
  if (!resp.ok()) return resp.take_status();
  if (etag) *etag = resp->headers["etag"];
  if (version_id) {
    *version_id = resp->headers["x-amz-version-id"];
    if (*version_id == "null") version_id->clear();  // written while unversioned
  }
  return Status::OK();
}

Result<std::string> S3Client::GetObject(const std::string& bucket, const std::string& key,
                                        std::string* etag) {
  Request r;
  r.bucket = bucket;
  r.key = key;
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  if (etag) *etag = resp.headers["etag"];
  return std::move(resp.body);
}

Result<S3Client::ObjectInfo> S3Client::HeadObject(const std::string& bucket, const std::string& key,
                                                  const std::string& version_id) {
  Request r;
  r.method = "HEAD";
  r.bucket = bucket;
  r.key = key;
  if (!version_id.empty()) r.query = {{"versionId", version_id}};
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  ObjectInfo info;
  info.size =
      std::stoull(resp.headers.count("content-length") ? resp.headers["content-length"] : "0");
  info.etag = resp.headers["etag"];
  info.version_id = resp.headers["x-amz-version-id"];
  if (info.version_id == "null") info.version_id.clear();  // written while unversioned
  info.headers = std::move(resp.headers);
  return info;
}

Status S3Client::DeleteObject(const std::string& bucket, const std::string& key) {
  Request r;
  r.method = "DELETE";
  r.bucket = bucket;
  r.key = key;
  auto resp = Send(r);
  if (!resp.ok() && resp.status().code() != Code::kNotFound) return resp.take_status();
  return Status::OK();
}

namespace {

using Markers = std::vector<std::pair<std::string, std::string>>;

// Follows a listing's pages (the one paginator of ListObjectsV2,
// ListMultipartUploads and ListParts): sends `req`, then again with the
// markers `page` returns for each page, while the reply says IsTruncated
// (and `page` does not return nullopt: the caller has seen enough).
Status Paginate(S3Client* client, S3Client::Request req, const char* root, const std::string& what,
                const std::function<std::optional<Markers>(pugi::xml_node)>& page) {
  req.xml_reply = true;
  const auto base = req.query;
  for (;;) {
    ASSIGN_OR_RETURN(HttpResponse resp, client->Send(req));
    pugi::xml_document doc;
    RETURN_IF_ERROR(LoadXml(resp.body, &doc, what));
    pugi::xml_node node = doc.child(root);
    bool truncated = std::string(node.child("IsTruncated").text().as_string()) == "true";
    std::optional<Markers> more = page(node);
    if (!truncated || !more) return Status::OK();
    Markers& next = *more;
    bool empty = true;
    for (const auto& [k, v] : next) empty &= v.empty();
    if (empty) return Status::StoreUnavailable(what + ": truncated without a marker to go on from");
    req.query = base;
    req.query.insert(req.query.end(), next.begin(), next.end());
  }
}

}  // namespace

Result<std::vector<S3Client::ListedObject>> S3Client::ListObjectsDetailed(const std::string& bucket,
                                                                          const std::string& prefix,
                                                                          size_t max_objects) {
  std::vector<ListedObject> objects;
  Request r;
  r.bucket = bucket;
  r.query = {{"list-type", "2"}, {"prefix", prefix}};
  if (max_objects > 0 && max_objects < 1000)
    r.query.emplace_back("max-keys", std::to_string(max_objects));
  RETURN_IF_ERROR(Paginate(
      this, r, "ListBucketResult", "ListObjectsV2 of s3://" + bucket + "/" + prefix,
      [&](pugi::xml_node n) -> std::optional<Markers> {
        for (auto c : n.children("Contents")) {
          auto t = ParseAwsTime(c.child("LastModified").text().as_string());
          objects.push_back(
              {c.child("Key").text().as_string(), c.child("Size").text().as_ullong(),
               UnquoteEtag(c.child("ETag").text().as_string()),
               t.ok() ? std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch())
                            .count()
                      : 0});
        }
        if (max_objects && objects.size() >= max_objects) return std::nullopt;
        return Markers{{"continuation-token", n.child("NextContinuationToken").text().as_string()}};
      }));
  return objects;
}

Result<std::vector<std::string>> S3Client::ListObjects(const std::string& bucket,
                                                       const std::string& prefix) {
  ASSIGN_OR_RETURN(auto objects, ListObjectsDetailed(bucket, prefix));
  std::vector<std::string> keys;
  keys.reserve(objects.size());
  for (auto& o : objects) keys.push_back(std::move(o.key));
  return keys;
}

}  // namespace ferry

namespace ferry {

Result<std::string> S3Client::CreateMultipartUpload(
    const std::string& bucket, const std::string& key,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  Request r;
  r.method = "POST";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"uploads", ""}};
  r.headers = headers;
  r.xml_reply = true;
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  std::string id = XmlText(resp.body, "UploadId");
  if (id.empty())
    return Status::StoreUnavailable("CreateMultipartUpload s3://" + bucket + "/" + key +
                                    ": no UploadId in the response");
  return id;
}

Result<std::string> S3Client::UploadPart(const std::string& bucket, const std::string& key,
                                         const std::string& upload_id, int part_number,
                                         std::string_view data,
                                         const std::vector<StreamChunk>& chunks) {
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  r.body = data;
  r.stream_chunks = chunks;
  auto rejected_chunk = [&](const Result<HttpResponse>& s) {
    return !s.ok() && !chunks.empty() && s.status().code() == Code::kAuth &&
           s.status().message().find("SignatureDoesNotMatch") != std::string::npos;
  };
  auto sent = Send(r);
  // The upload was created with these credentials: a rejected chunk signature
  // means bytes changed on the wire. Ours are intact, so send the part again.
  for (int again = 1; again <= 2 && rejected_chunk(sent); again++) {
    LogWarn("part " + std::to_string(part_number) + " of s3://" + bucket + "/" + key +
            ": the server rejected a chunk signature; sending the part again");
    sent = Send(r);
  }
  if (rejected_chunk(sent))
    // The upload was created with these credentials: a chunk's bytes no
    // longer match the SHA-256 its signature covers.
    return Status::VerifyFailed("part " + std::to_string(part_number) + " of s3://" + bucket + "/" +
                                key +
                                ": the server rejected a chunk signature; its bytes changed in "
                                "flight (or the credentials changed during the push)")
        .SetDataLoss();
  ASSIGN_OR_RETURN(HttpResponse resp, std::move(sent));
  std::string etag = resp.headers["etag"];
  if (etag.empty())
    return Status::StoreUnavailable("UploadPart " + std::to_string(part_number) + " of s3://" +
                                    bucket + "/" + key + ": no ETag");
  return etag;
}

Result<std::string> S3Client::UploadPartCopy(const std::string& bucket, const std::string& key,
                                             const std::string& upload_id, int part_number,
                                             const std::string& src_key, uint64_t offset,
                                             uint64_t n, const std::string& src_etag) {
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  r.headers.emplace_back("x-amz-copy-source", "/" + bucket + "/" + UriEncode(src_key, false));
  r.headers.emplace_back("x-amz-copy-source-range",
                         "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + n - 1));
  if (!src_etag.empty()) r.headers.emplace_back("x-amz-copy-source-if-match", src_etag);
  r.xml_reply = true;  // an <Error> inside a 200 is an error (Send)
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  std::string etag = XmlText(resp.body, "ETag");
  if (etag.empty())
    return Status::StoreUnavailable("UploadPartCopy " + std::to_string(part_number) + " of s3://" +
                                    bucket + "/" + key + ": no ETag in the response");
  return etag;
}

Result<std::string> S3Client::CompleteMultipartUpload(const std::string& bucket,
                                                      const std::string& key,
                                                      const std::string& upload_id,
                                                      const std::vector<std::string>& etags) {
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); i++)
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] +
            "</ETag></Part>";
  body += "</CompleteMultipartUpload>";
  Request r;
  r.method = "POST";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"uploadId", upload_id}};
  r.body = body;
  r.xml_reply = true;  // an <Error> inside a 200 is an error (Send)
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  return XmlText(resp.body, "ETag");
}

Status S3Client::AbortMultipartUpload(const std::string& bucket, const std::string& key,
                                      const std::string& upload_id) {
  Request r;
  r.method = "DELETE";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"uploadId", upload_id}};
  auto resp = Send(r);
  if (!resp.ok() && resp.status().code() != Code::kNotFound) return resp.take_status();
  return Status::OK();
}

Result<std::vector<S3Client::UploadInfo>> S3Client::ListMultipartUploads(
    const std::string& bucket, const std::string& prefix) {
  std::vector<UploadInfo> out;
  Request r;
  r.bucket = bucket;
  r.query = {{"uploads", ""}, {"prefix", prefix}};
  RETURN_IF_ERROR(Paginate(
      this, r, "ListMultipartUploadsResult", "ListMultipartUploads of s3://" + bucket,
      [&](pugi::xml_node n) {
        for (auto u : n.children("Upload"))
          out.push_back({u.child("Key").text().as_string(), u.child("UploadId").text().as_string(),
                         u.child("Initiated").text().as_string()});
        return Markers{{"key-marker", n.child("NextKeyMarker").text().as_string()},
                       {"upload-id-marker", n.child("NextUploadIdMarker").text().as_string()}};
      }));
  return out;
}

Result<std::vector<S3Client::PartInfo>> S3Client::ListParts(const std::string& bucket,
                                                            const std::string& key,
                                                            const std::string& upload_id) {
  std::vector<PartInfo> out;
  Request r;
  r.bucket = bucket;
  r.key = key;
  r.query = {{"uploadId", upload_id}};
  RETURN_IF_ERROR(Paginate(
      this, r, "ListPartsResult", "ListParts of s3://" + bucket + "/" + key, [&](pugi::xml_node n) {
        for (auto p : n.children("Part"))
          out.push_back({p.child("PartNumber").text().as_int(), p.child("ETag").text().as_string(),
                         p.child("Size").text().as_ullong()});
        return Markers{{"part-number-marker", n.child("NextPartNumberMarker").text().as_string()}};
      }));
  return out;
}

Status S3Client::CopyObjectFrom(const std::string& src_bucket, const std::string& src_key,
                                const std::string& bucket, const std::string& dst_key,
                                const std::vector<std::pair<std::string, std::string>>& headers) {
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = dst_key;
  r.headers = headers;
  r.headers.emplace_back("x-amz-copy-source", "/" + src_bucket + "/" + UriEncode(src_key, false));
  r.xml_reply = true;  // an <Error> inside a 200 is an error (Send)
  auto resp = Send(r);
  return resp.ok() ? Status::OK() : resp.take_status();
}

Result<std::string> S3Client::GetBucketVersioning(const std::string& bucket) {
  Request r;
  r.bucket = bucket;
  r.query = {{"versioning", ""}};
  r.xml_reply = true;
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  return XmlText(resp.body, "Status");
}

Status S3Client::PutObjectTagging(const std::string& bucket, const std::string& key,
                                  const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string body = "<Tagging><TagSet>";
  for (const auto& [k, v] : tags)
    body += "<Tag><Key>" + XmlEscape(k) + "</Key><Value>" + XmlEscape(v) + "</Value></Tag>";
  body += "</TagSet></Tagging>";
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"tagging", ""}};
  r.body = body;
  auto resp = Send(r);
  return resp.ok() ? Status::OK() : resp.take_status();
}

Result<std::string> S3Client::GetRange(const std::string& bucket, const std::string& key,
                                       uint64_t offset, uint64_t n, const std::string& version_id,
                                       const std::string& if_match) {
  if (n == 0) return std::string();
  Request r;
  r.bucket = bucket;
  r.key = key;
  if (!version_id.empty()) r.query = {{"versionId", version_id}};
  r.headers = {{"range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + n - 1)}};
  if (!if_match.empty()) r.headers.emplace_back("if-match", "\"" + if_match + "\"");
  ASSIGN_OR_RETURN(HttpResponse resp, Send(r));
  // A server or proxy may ignore Range and answer 200 with the whole object.
  if (resp.status == 200)
    return offset >= resp.body.size() ? std::string() : resp.body.substr(offset, n);
  return std::move(resp.body);
}

}  // namespace ferry
