#!/usr/bin/env python3
"""Proof by Alibaba's official Python SDKs that `oss-uploader serve` is a faithful OSS.

Usage:
    python3 tests/sdk/sdk_compat.py [PATH/TO/oss-uploader] [--keep] [--only SUBSTRING]...

The binary comes from the argument or from $OSS_UPLOADER_BIN. The script starts
`oss-uploader serve` on a temporary root, port 0, one AK/SK pair and one bucket, and drives
it with `oss2` (V1 and V4 signatures) and `alibabacloud-oss-v2` (V4 and V1): resumable
uploads with several threads and CRC checks, an interrupted upload resumed by each SDK,
read-back of every object with its CRC-64, the multipart calls one by one, wrong secrets,
keys with spaces, '+' and Chinese, listing buckets and objects across pages, and presigned
URLs fetched with plain HTTP (edited and expired ones refused). It talks to 127.0.0.1 only, bounds everything in time,
always stops the server, and ends with the line `N passed, M failed` (exit 1 on any failure).
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# Never send loopback traffic through a proxy that the environment may name.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import oss2  # noqa: E402
import alibabacloud_oss_v2 as ossv2  # noqa: E402

AK = "sdk-compat-ak"
SK = "sdk-compat-secret-0123456789"
WRONG_SK = "not-the-secret"
BUCKET = "sdk-compat"
REGION = "cn-hangzhou"
KIB = 1024
MIB = 1024 * KIB
PART = 256 * KIB
THREADS = 3
# Keys with spaces, '+' and Chinese, in a "directory".
KEY_PREFIX = "dir/a b+c 中文"

# Every process this script starts (servers, upload children), killed by the watchdog.
LIVE_PROCS = set()

TOTAL_TIMEOUT_S = float(os.environ.get("SDK_COMPAT_TIMEOUT", "900"))
HTTP_TIMEOUT_S = 60


# --------------------------------------------------------------------------------------------
# CRC-64/XZ ("crc64ecma"), our own table implementation, independent of the SDKs.
_CRC64_POLY_REFLECTED = 0xC96C5795D7870F42
_CRC64_MASK = 0xFFFFFFFFFFFFFFFF


def _crc64_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _CRC64_POLY_REFLECTED if c & 1 else c >> 1
        table.append(c)
    return table


_CRC64_TABLE = _crc64_table()


def crc64(data, crc=0):
    """CRC-64/XZ of `data`, continuing from a previous result `crc` (0 to start)."""
    table = _CRC64_TABLE
    c = crc ^ _CRC64_MASK
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _CRC64_MASK


# --------------------------------------------------------------------------------------------
# Small helpers.

class CheckFailed(AssertionError):
    pass


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def log(msg):
    print(msg, flush=True)


def make_file(path, size, seed):
    rnd = random.Random(seed)
    data = rnd.randbytes(size)
    with open(path, "wb") as f:
        f.write(data)
    return data


def parts_of(size, part_size=PART):
    return (size + part_size - 1) // part_size


# --------------------------------------------------------------------------------------------
# The server under test.

class Server:
    def __init__(self, binary, root, log_path, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.root = root
        self.log_path = log_path
        self.proc = None
        self.port = None
        self.endpoint = None
        self._log = None
        self._drain = None

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        self._log = open(self.log_path, "ab")
        cmd = [self.binary, "serve", "--root", self.root, "--addr", "127.0.0.1:0",
               "--access-key-id", AK, "--access-key-secret", SK, "--bucket", BUCKET] + self.extra_args
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        LIVE_PROCS.add(self.proc)
        first = {}

        def read_first():
            first["line"] = self.proc.stdout.readline()

        t = threading.Thread(target=read_first, daemon=True)
        t.start()
        t.join(30)
        line = first.get("line")
        if line is None:
            self.stop()
            raise RuntimeError("server printed no first line within 30 s")
        text = line.decode("utf-8", "replace").strip()
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/?", text)
        if not m:
            code = self.proc.poll()
            self.stop()
            raise RuntimeError(f"unexpected first line from server: {text!r} (exit code {code})")
        self.port = int(m.group(1))
        self.endpoint = f"http://127.0.0.1:{self.port}"

        def drain():
            for chunk in iter(lambda: self.proc.stdout.readline(), b""):
                self._log.write(b"[stdout] " + chunk)
                self._log.flush()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        log(f"server up at {self.endpoint} (pid {self.proc.pid}, root {self.root})")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        LIVE_PROCS.discard(self.proc)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.stop()

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no server log)"


# --------------------------------------------------------------------------------------------
# SDK clients.

def oss2_bucket(endpoint, version, secret=SK):
    if version == "v1":
        auth = oss2.Auth(AK, secret)
        return oss2.Bucket(auth, endpoint, BUCKET, enable_crc=True, connect_timeout=HTTP_TIMEOUT_S)
    provider = oss2.credentials.StaticCredentialsProvider(AK, secret)
    auth = oss2.ProviderAuthV4(provider)
    return oss2.Bucket(auth, endpoint, BUCKET, region=REGION, enable_crc=True,
                       connect_timeout=HTTP_TIMEOUT_S)


def v2_client(endpoint, version="v4", secret=SK, http_client=None, attempts=2):
    cfg = ossv2.config.load_default()
    if http_client is not None:
        cfg.http_client = http_client
    cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(AK, secret)
    cfg.region = REGION
    cfg.endpoint = endpoint
    cfg.use_path_style = True
    cfg.signature_version = version
    cfg.connect_timeout = 10
    cfg.readwrite_timeout = HTTP_TIMEOUT_S
    cfg.retry_max_attempts = attempts
    return ossv2.Client(cfg)


def read_back(server, key, data, what):
    """GetObject and HeadObject through both SDKs; bytes, length and CRC-64 must match."""
    want_crc = crc64(data)
    b = oss2_bucket(server.endpoint, "v4")
    r = b.get_object(key)
    body = r.read()
    expect(body == data, f"{what}: oss2 GetObject bytes differ (got {len(body)} bytes, "
                         f"want {len(data)})")
    hdr = r.headers.get("x-oss-hash-crc64ecma")
    expect_eq(hdr, str(want_crc), f"{what}: GetObject x-oss-hash-crc64ecma")
    h = b.head_object(key)
    expect_eq(h.content_length, len(data), f"{what}: HeadObject Content-Length")
    expect_eq(h.headers.get("x-oss-hash-crc64ecma"), str(want_crc),
              f"{what}: HeadObject x-oss-hash-crc64ecma")
    expect(h.etag, f"{what}: HeadObject has no ETag")

    c = v2_client(server.endpoint)
    g = c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=key))
    body2 = g.body.read()
    g.body.close()
    expect(body2 == data, f"{what}: v2 GetObject bytes differ")
    expect_eq(g.hash_crc64, str(want_crc), f"{what}: v2 GetObject hash_crc64")
    expect_eq(g.content_length, len(data), f"{what}: v2 GetObject content_length")
    return want_crc


def oss2_upload_ids(bucket, key):
    out = []
    for u in oss2.MultipartUploadIterator(bucket, prefix=key):
        if u.key == key:
            out.append(u.upload_id)
    return out


def v2_upload_ids(client, key):
    r = client.list_multipart_uploads(ossv2.ListMultipartUploadsRequest(bucket=BUCKET, prefix=key))
    return [u.upload_id for u in (r.uploads or []) if u.key == key]


# --------------------------------------------------------------------------------------------
# The checks. Each takes the context and raises on failure.

class Ctx:
    def __init__(self, server, work):
        self.server = server
        self.work = work


def check_crc64_vectors(ctx):
    expect_eq(crc64(b"123456789"), 0x995DC9BBDF1939FA, "crc64('123456789')")
    expect_eq(crc64(b"This is a test of the emergency broadcast system."), 0x27DB187FC15BBC72,
              "crc64(emergency broadcast)")
    expect_eq(crc64(b"56789", crc64(b"1234")), 0x995DC9BBDF1939FA, "crc64 continuation")
    # And agree with the SDK's own implementation (crcmod based) on random data.
    data = random.Random(7).randbytes(100_003)
    sdk = oss2.utils.Crc64()
    sdk.update(data)
    expect_eq(crc64(data), sdk.crc, "crc64 vs oss2.utils.Crc64")


def check_small_objects(ctx):
    """PutObject/HeadObject/GetObject/DeleteObject with both SDKs and both signatures."""
    for sdk, version in (("oss2", "v1"), ("oss2", "v4"), ("v2", "v4"), ("v2", "v1")):
        key = f"{KEY_PREFIX} small {sdk}-{version}.txt"
        data = random.Random(f"{sdk}{version}").randbytes(12_345)
        if sdk == "oss2":
            b = oss2_bucket(ctx.server.endpoint, version)
            r = b.put_object(key, data, headers={"Content-Type": "text/plain"})
            expect_eq(r.crc, crc64(data), f"{sdk}/{version} PutObject crc")
            expect(r.etag, f"{sdk}/{version} PutObject has no ETag")
        else:
            c = v2_client(ctx.server.endpoint, version)
            r = c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=key, body=data,
                                                    content_type="text/plain"))
            expect_eq(r.hash_crc64, str(crc64(data)), f"{sdk}/{version} PutObject hash_crc64")
            expect(r.etag, f"{sdk}/{version} PutObject has no ETag")
        read_back(ctx.server, key, data, f"{sdk}/{version} small object")
        b = oss2_bucket(ctx.server.endpoint, "v4")
        h = b.head_object(key)
        expect_eq(h.content_type, "text/plain", f"{sdk}/{version} HeadObject Content-Type")
        if sdk == "oss2":
            b2 = oss2_bucket(ctx.server.endpoint, version)
            b2.delete_object(key)
            expect(not b2.object_exists(key), f"{sdk}/{version}: object still exists after delete")
        else:
            c.delete_object(ossv2.DeleteObjectRequest(bucket=BUCKET, key=key))
            try:
                c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=key))
                raise CheckFailed(f"{sdk}/{version}: GetObject after delete succeeded")
            except ossv2.exceptions.OperationError as e:
                se = e.unwrap()
                expect_eq(getattr(se, "code", None), "NoSuchKey",
                          f"{sdk}/{version}: GetObject after delete error code")


def check_query_plus_means_space(ctx):
    """oss2 form-encodes query values (space as '+', '+' as '%2B'): a listing by a prefix with
    a space must find the upload (V1) and verify (V4, where the prefix is signed)."""
    key = "plus check/a b+c.bin"
    b1 = oss2_bucket(ctx.server.endpoint, "v1")
    uid = b1.init_multipart_upload(key).upload_id
    try:
        problems = []
        for version in ("v1", "v4"):
            b = oss2_bucket(ctx.server.endpoint, version)
            try:
                got = [(u.key, u.upload_id) for u in
                       b.list_multipart_uploads(prefix="plus check/a b+").upload_list]
                if got != [(key, uid)]:
                    problems.append(f"oss2/{version} ListMultipartUploads(prefix='plus check/a b+')"
                                    f" -> {got}, want [({key!r}, upload)]")
            except oss2.exceptions.OssError as e:
                problems.append(f"oss2/{version} ListMultipartUploads(prefix with a space): "
                                f"{e.status} {e.code}")
        expect(not problems, "; ".join(problems))
    finally:
        b1.abort_multipart_upload(key, uid)


def _oss2_resumable(ctx, version):
    size = 3 * MIB + 12_345 + (0 if version == "v1" else 77_777)
    path = os.path.join(ctx.work, f"oss2-{version}.bin")
    data = make_file(path, size, f"oss2-{version}")
    key = f"{KEY_PREFIX} oss2-{version}.bin"
    store_root = os.path.join(ctx.work, f"oss2-{version}-cp")
    store = oss2.ResumableStore(root=store_root, dir="cp")
    b = oss2_bucket(ctx.server.endpoint, version)
    sent = {"parts": 0, "bytes": 0}
    lock = threading.Lock()
    orig = b.upload_part

    def counting_upload_part(key_, upload_id, part_number, body, *a, **kw):
        r = orig(key_, upload_id, part_number, body, *a, **kw)
        with lock:
            sent["parts"] += 1
        return r

    b.upload_part = counting_upload_part
    progress = []
    r = oss2.resumable_upload(b, key, path, store=store, multipart_threshold=PART,
                              part_size=PART, num_threads=THREADS,
                              progress_callback=lambda c, t: progress.append((c, t)))
    expect_eq(sent["parts"], parts_of(size), f"oss2/{version} parts sent")
    expect_eq(r.crc, crc64(data), f"oss2/{version} CompleteMultipartUpload crc")
    expect(progress and progress[-1] == (size, size), f"oss2/{version} final progress {progress[-1:]}")
    left = [f for f in glob.glob(os.path.join(store_root, "cp", "*"))]
    expect_eq(left, [], f"oss2/{version} checkpoint records left after success")
    read_back(ctx.server, key, data, f"oss2/{version} resumable upload")
    expect_eq(oss2_upload_ids(b, key), [], f"oss2/{version} uploads still listed after complete")


def check_oss2_resumable_v1(ctx):
    _oss2_resumable(ctx, "v1")


def check_oss2_resumable_v4(ctx):
    _oss2_resumable(ctx, "v4")


def check_v2_uploader(ctx):
    size = 3 * MIB + 54_321
    path = os.path.join(ctx.work, "v2-up.bin")
    data = make_file(path, size, "v2-up")
    key = f"{KEY_PREFIX} v2.bin"
    cp_dir = os.path.join(ctx.work, "v2-cp") + os.sep  # the SDK takes dirname(): keep the '/'
    os.makedirs(cp_dir, exist_ok=True)
    c = v2_client(ctx.server.endpoint, "v4")
    calls = {"parts": 0}
    orig = c.upload_part

    def counting(req, **kw):
        r = orig(req, **kw)
        calls["parts"] += 1
        return r

    c.upload_part = counting
    up = c.uploader(part_size=PART, parallel_num=THREADS, enable_checkpoint=True,
                    checkpoint_dir=cp_dir)
    progress = []
    req = ossv2.PutObjectRequest(bucket=BUCKET, key=key,
                                 progress_fn=lambda n, done, total: progress.append((done, total)))
    r = up.upload_file(req, filepath=path)
    expect_eq(calls["parts"], parts_of(size), "v2 parts sent")
    expect(r.upload_id, "v2 upload result has no upload id (did it use multipart?)")
    expect_eq(r.hash_crc64, str(crc64(data)), "v2 upload hash_crc64")
    expect(progress and progress[-1] == (size, size), f"v2 final progress {progress[-1:]}")
    expect_eq(glob.glob(cp_dir + "*.ucp"), [], "v2 checkpoint files left after success")
    read_back(ctx.server, key, data, "v2 uploader")
    expect_eq(v2_upload_ids(c, key), [], "v2 uploads still listed after complete")


def check_oss2_resume_after_kill(ctx):
    """A child process runs oss2.resumable_upload, stalls after ~40% and is SIGKILLed;
    a second run with the same checkpoint store must reuse the upload and send only the rest."""
    version = "v4"
    size = 4 * MIB + 99_999
    n = parts_of(size)
    path = os.path.join(ctx.work, "oss2-resume.bin")
    data = make_file(path, size, "oss2-resume")
    key = f"{KEY_PREFIX} oss2-resume.bin"
    store_root = os.path.join(ctx.work, "oss2-resume-cp")
    args = {"endpoint": ctx.server.endpoint, "version": version, "key": key, "file": path,
            "store_root": store_root, "stall_after": int(size * 0.4)}
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child-oss2-stall",
                              json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    LIVE_PROCS.add(child)
    got = {}

    def wait_stall():
        for raw in iter(child.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("STALLED"):
                got["line"] = line
                return

    t = threading.Thread(target=wait_stall, daemon=True)
    t.start()
    t.join(120)
    try:
        if "line" not in got:
            child.kill()
            _, err = child.communicate(timeout=10)
            raise CheckFailed("child upload never reached the stall point; stderr:\n"
                              + err.decode("utf-8", "replace")[-3000:])
        time.sleep(0.5)  # let parts already on the wire finish or not: both must be safe
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
        LIVE_PROCS.discard(child)
        child.stdout.close()
        child.stderr.close()
    log(f"  child {got['line']}; killed with SIGKILL")

    records = glob.glob(os.path.join(store_root, "cp", "*"))
    expect_eq(len(records), 1, "oss2 checkpoint records after the kill")
    with open(records[0]) as f:
        record = json.load(f)
    upload_id = record.get("upload_id")
    expect(upload_id, f"oss2 checkpoint has no upload_id: {record}")

    b = oss2_bucket(ctx.server.endpoint, version)
    expect(upload_id in oss2_upload_ids(b, key),
           "ListMultipartUploads does not list the interrupted upload")
    listed = list(oss2.PartIterator(b, key, upload_id))
    k = len(listed)
    expect(0 < k < n, f"parts on the server after the kill: {k} of {n} (want some, not all)")
    for p in listed:
        want = min(PART, size - (p.part_number - 1) * PART)
        expect_eq(p.size, want, f"ListParts size of part {p.part_number}")

    sent = {"parts": 0, "bytes": 0, "inits": 0}
    lock = threading.Lock()
    orig_part, orig_init = b.upload_part, b.init_multipart_upload

    def counting_part(key_, uid, part_number, body, *a, **kw):
        r = orig_part(key_, uid, part_number, body, *a, **kw)
        with lock:
            sent["parts"] += 1
            sent["bytes"] += min(PART, size - (part_number - 1) * PART)
        return r

    def counting_init(*a, **kw):
        sent["inits"] += 1
        return orig_init(*a, **kw)

    b.upload_part, b.init_multipart_upload = counting_part, counting_init
    store = oss2.ResumableStore(root=store_root, dir="cp")
    r = oss2.resumable_upload(b, key, path, store=store, multipart_threshold=PART,
                              part_size=PART, num_threads=THREADS)
    expect_eq(sent["inits"], 0, "InitiateMultipartUpload calls on resume")
    expect_eq(sent["parts"], n - k, "parts sent on resume")
    expect_eq(sent["bytes"], size - sum(p.size for p in listed), "bytes sent on resume")
    expect_eq(r.crc, crc64(data), "resumed upload crc")
    expect_eq(glob.glob(os.path.join(store_root, "cp", "*")), [], "checkpoint left after resume")
    expect_eq(oss2_upload_ids(b, key), [], "upload still listed after the resumed complete")
    read_back(ctx.server, key, data, "oss2 resumed upload")
    log(f"  resumed: {k} of {n} parts reused, {sent['parts']} sent")


def child_oss2_stall(arg):
    """Child side of check_oss2_resume_after_kill: upload, then stall in the progress
    callback (which oss2 calls under a lock at the start of every part) once enough is done."""
    a = json.loads(arg)
    threading.Timer(300, lambda: os._exit(3)).start()  # never outlive the parent by much
    b = oss2_bucket(a["endpoint"], a["version"])
    store = oss2.ResumableStore(root=a["store_root"], dir="cp")
    state = {"stalled": False}

    def progress(consumed, total):
        if consumed >= a["stall_after"] and consumed < total:
            if not state["stalled"]:
                state["stalled"] = True
                print(f"STALLED at {consumed} of {total} bytes", flush=True)
            time.sleep(280)

    oss2.resumable_upload(b, a["key"], a["file"], store=store, multipart_threshold=PART,
                          part_size=PART, num_threads=THREADS, progress_callback=progress)
    print("FINISHED (the stall did not happen)", flush=True)
    os._exit(4)


def check_v2_resume_after_failure(ctx):
    """The v2 uploader loses the connection from part 6 on (injected below the SDK's
    uploader, above its transport); the checkpoint stays; a second run resumes the upload."""
    size = 4 * MIB + 11_111
    n = parts_of(size)
    good = 5
    path = os.path.join(ctx.work, "v2-resume.bin")
    data = make_file(path, size, "v2-resume")
    key = f"{KEY_PREFIX} v2-resume.bin"
    cp_dir = os.path.join(ctx.work, "v2-resume-cp") + os.sep
    os.makedirs(cp_dir, exist_ok=True)
    c = v2_client(ctx.server.endpoint, "v4")
    orig_part, orig_init = c.upload_part, c.initiate_multipart_upload

    def failing(req, **kw):
        if req.part_number > good:
            raise ConnectionResetError(f"injected: connection reset sending part {req.part_number}")
        return orig_part(req, **kw)

    c.upload_part = failing
    up = c.uploader(part_size=PART, parallel_num=THREADS, enable_checkpoint=True,
                    checkpoint_dir=cp_dir)
    try:
        up.upload_file(ossv2.PutObjectRequest(bucket=BUCKET, key=key), filepath=path)
        raise CheckFailed("the upload with injected failures succeeded")
    except ossv2.UploadError as e:
        first_id = e.upload_id
        expect(isinstance(e.unwrap(), ConnectionResetError), f"unexpected upload error: {e}")
    cps = glob.glob(cp_dir + "*.ucp")
    expect_eq(len(cps), 1, "v2 checkpoint files after the failure")
    with open(cps[0]) as f:
        cp = json.load(f)
    expect_eq(cp["Data"]["UploadInfo"]["UploadId"], first_id, "checkpoint upload id")
    lp = c.list_parts(ossv2.ListPartsRequest(bucket=BUCKET, key=key, upload_id=first_id))
    nums = [p.part_number for p in lp.parts]
    expect_eq(nums, list(range(1, good + 1)), "ListParts part numbers after the failure")
    for p in lp.parts:
        expect_eq(p.size, PART, f"ListParts size of part {p.part_number}")
        chunk = data[(p.part_number - 1) * PART:p.part_number * PART]
        expect_eq(p.hash_crc64, str(crc64(chunk)),
                  f"ListParts HashCrc64ecma of part {p.part_number}")
    expect(first_id in v2_upload_ids(c, key), "ListMultipartUploads misses the interrupted upload")

    sent = {"parts": 0, "bytes": 0, "inits": 0}
    lock = threading.Lock()

    def counting(req, **kw):
        r = orig_part(req, **kw)
        with lock:
            sent["parts"] += 1
            sent["bytes"] += min(PART, size - (req.part_number - 1) * PART)
        return r

    def counting_init(req, **kw):
        sent["inits"] += 1
        return orig_init(req, **kw)

    c.upload_part, c.initiate_multipart_upload = counting, counting_init
    up = c.uploader(part_size=PART, parallel_num=THREADS, enable_checkpoint=True,
                    checkpoint_dir=cp_dir)
    r = up.upload_file(ossv2.PutObjectRequest(bucket=BUCKET, key=key), filepath=path)
    expect_eq(sent["inits"], 0, "InitiateMultipartUpload calls on resume")
    expect_eq(r.upload_id, first_id, "resumed upload id")
    expect_eq(sent["parts"], n - good, "parts sent on resume")
    expect_eq(sent["bytes"], size - good * PART, "bytes sent on resume")
    # The SDK combined the listed parts' CRCs with the new ones and compared with Complete's.
    expect_eq(r.hash_crc64, str(crc64(data)), "resumed upload hash_crc64")
    expect_eq(glob.glob(cp_dir + "*.ucp"), [], "v2 checkpoint left after resume")
    read_back(ctx.server, key, data, "v2 resumed upload")
    log(f"  resumed: {good} of {n} parts reused, {sent['parts']} sent")


def check_oss2_multipart_calls(ctx):
    """Initiate, UploadPart, ListMultipartUploads, ListParts, Abort, then NoSuchUpload (oss2, V1)."""
    b = oss2_bucket(ctx.server.endpoint, "v1")
    key = f"{KEY_PREFIX} oss2-abort.bin"
    part = random.Random("oss2-abort").randbytes(PART)
    uid = b.init_multipart_upload(key).upload_id
    expect(uid, "InitiateMultipartUpload returned no upload id")
    r = b.upload_part(key, uid, 1, part)
    expect_eq(r.crc, crc64(part), "UploadPart crc")
    expect(uid in oss2_upload_ids(b, key), "ListMultipartUploads misses the upload")
    res = b.list_multipart_uploads(prefix=KEY_PREFIX)
    expect(any(u.key == key and u.upload_id == uid for u in res.upload_list),
           f"ListMultipartUploads(prefix) misses {key!r}: {[u.key for u in res.upload_list]}")
    parts = b.list_parts(key, uid).parts
    expect_eq([(p.part_number, p.size, p.etag) for p in parts], [(1, PART, r.etag)], "ListParts")
    b.abort_multipart_upload(key, uid)
    try:
        b.list_parts(key, uid)
        raise CheckFailed("ListParts after abort succeeded")
    except oss2.exceptions.NoSuchUpload:
        pass
    try:
        b.upload_part(key, uid, 2, part)
        raise CheckFailed("UploadPart after abort succeeded")
    except oss2.exceptions.NoSuchUpload:
        pass
    try:
        b.complete_multipart_upload(key, uid, [oss2.models.PartInfo(1, r.etag)])
        raise CheckFailed("CompleteMultipartUpload after abort succeeded")
    except oss2.exceptions.NoSuchUpload:
        pass
    expect(uid not in oss2_upload_ids(b, key), "ListMultipartUploads still lists the aborted upload")
    expect(not b.object_exists(key), "an object exists after abort")


def check_v2_multipart_calls(ctx):
    """The same multipart calls with alibabacloud-oss-v2 signing V1."""
    c = v2_client(ctx.server.endpoint, "v1")
    key = f"{KEY_PREFIX} v2-abort.bin"
    part = random.Random("v2-abort").randbytes(PART)
    init = c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(bucket=BUCKET, key=key))
    uid = init.upload_id
    expect(uid, "InitiateMultipartUpload returned no upload id")
    expect_eq(init.key, key, "InitiateMultipartUploadResult Key")
    expect_eq(init.bucket, BUCKET, "InitiateMultipartUploadResult Bucket")
    r = c.upload_part(ossv2.UploadPartRequest(bucket=BUCKET, key=key, upload_id=uid, part_number=1,
                                              body=part))
    expect_eq(r.hash_crc64, str(crc64(part)), "UploadPart x-oss-hash-crc64ecma")
    expect(uid in v2_upload_ids(c, key), "ListMultipartUploads misses the upload")
    lp = c.list_parts(ossv2.ListPartsRequest(bucket=BUCKET, key=key, upload_id=uid))
    expect_eq([(p.part_number, p.size, p.etag, p.hash_crc64) for p in lp.parts],
              [(1, PART, r.etag, str(crc64(part)))], "ListParts")
    c.abort_multipart_upload(ossv2.AbortMultipartUploadRequest(bucket=BUCKET, key=key,
                                                               upload_id=uid))
    try:
        c.list_parts(ossv2.ListPartsRequest(bucket=BUCKET, key=key, upload_id=uid))
        raise CheckFailed("ListParts after abort succeeded")
    except ossv2.exceptions.OperationError as e:
        se = e.unwrap()
        expect_eq(getattr(se, "code", None), "NoSuchUpload", "ListParts after abort: error code")
        expect_eq(getattr(se, "status_code", None), 404, "ListParts after abort: status")
    expect(uid not in v2_upload_ids(c, key), "ListMultipartUploads still lists the aborted upload")


def check_complete_errors(ctx):
    """CompleteMultipartUpload refuses a wrong ETag (InvalidPart), a descending list
    (InvalidPartOrder) and a small part that is not the last (EntityTooSmall); the upload
    survives these refusals and then completes from parts 1 and 3 (a gap is allowed)."""
    b = oss2_bucket(ctx.server.endpoint, "v4")
    c = v2_client(ctx.server.endpoint, "v4")
    key = f"{KEY_PREFIX} complete-errors.bin"
    rnd = random.Random("complete-errors")
    p1, p2, p3 = rnd.randbytes(PART), rnd.randbytes(10 * KIB), rnd.randbytes(PART - 1)
    uid = b.init_multipart_upload(key).upload_id
    r1 = b.upload_part(key, uid, 1, p1)
    r2 = b.upload_part(key, uid, 2, p2)
    r3 = b.upload_part(key, uid, 3, p3)

    def v2_complete(parts):
        try:
            c.complete_multipart_upload(ossv2.CompleteMultipartUploadRequest(
                bucket=BUCKET, key=key, upload_id=uid,
                complete_multipart_upload=ossv2.CompleteMultipartUpload(
                    parts=[ossv2.UploadPart(part_number=n, etag=e) for n, e in parts])))
            return "accepted"
        except ossv2.exceptions.OperationError as e:
            se = e.unwrap()
            return (getattr(se, "status_code", None), getattr(se, "code", None))

    bad_etag = '"0123456789ABCDEF0123456789ABCDEF"'
    cases = [
        ("InvalidPart", [(1, bad_etag)]),
        ("InvalidPartOrder", [(3, r3.etag), (1, r1.etag)]),
        ("EntityTooSmall", [(2, r2.etag), (3, r3.etag)]),
    ]
    problems = []
    for code, parts in cases:
        got = v2_complete(parts)
        if got != (400, code):
            problems.append(f"{code}: got {got}")
    expect(not problems, "CompleteMultipartUpload errors: " + "; ".join(problems))
    expect(uid in oss2_upload_ids(b, key), "the upload is gone after refused Completes")
    PI = oss2.models.PartInfo
    r = b.complete_multipart_upload(key, uid, [PI(1, r1.etag), PI(3, r3.etag)])
    read_back(ctx.server, key, p1 + p3, "object completed from parts 1 and 3")
    expect_eq(r.crc, crc64(p1 + p3), "Complete crc of parts 1 and 3")


def check_wrong_secret(ctx):
    """A wrong secret is refused as SignatureDoesNotMatch, and nothing is written."""
    results = []
    for sdk, version in (("oss2", "v1"), ("oss2", "v4"), ("v2", "v4"), ("v2", "v1")):
        key = f"{KEY_PREFIX} wrong-secret {sdk}-{version}.txt"
        if sdk == "oss2":
            bad = oss2_bucket(ctx.server.endpoint, version, secret=WRONG_SK)
            for op, fn in (("PutObject", lambda: bad.put_object(key, b"nope")),
                           ("InitiateMultipartUpload", lambda: bad.init_multipart_upload(key)),
                           ("GetObject", lambda: bad.get_object(KEY_PREFIX + " probe.txt"))):
                try:
                    fn()
                    results.append(f"{sdk}/{version} {op}: accepted")
                except oss2.exceptions.OssError as e:
                    if (e.status, e.code) != (403, "SignatureDoesNotMatch"):
                        results.append(f"{sdk}/{version} {op}: {e.status} {e.code!r}")
        else:
            bad = v2_client(ctx.server.endpoint, version, secret=WRONG_SK)
            ops = (("PutObject", lambda: bad.put_object(
                       ossv2.PutObjectRequest(bucket=BUCKET, key=key, body=b"nope"))),
                   ("InitiateMultipartUpload", lambda: bad.initiate_multipart_upload(
                       ossv2.InitiateMultipartUploadRequest(bucket=BUCKET, key=key))),
                   ("GetObject", lambda: bad.get_object(
                       ossv2.GetObjectRequest(bucket=BUCKET, key=KEY_PREFIX + " probe.txt"))))
            for op, fn in ops:
                try:
                    fn()
                    results.append(f"{sdk}/{version} {op}: accepted")
                except ossv2.exceptions.OperationError as e:
                    se = e.unwrap()
                    got = (getattr(se, "status_code", None), getattr(se, "code", None))
                    if got != (403, "SignatureDoesNotMatch"):
                        results.append(f"{sdk}/{version} {op}: {got} {se}")
        good = oss2_bucket(ctx.server.endpoint, "v4")
        if good.object_exists(key):
            results.append(f"{sdk}/{version}: the refused PutObject wrote {key!r}")
        if oss2_upload_ids(good, key):
            results.append(f"{sdk}/{version}: the refused Initiate created an upload")
    expect(not results, "wrong secret not refused as 403 SignatureDoesNotMatch:\n  "
           + "\n  ".join(results))


def check_restart_keeps_data(ctx):
    """Objects and an open multipart upload survive a restart of the server on the same root."""
    b = oss2_bucket(ctx.server.endpoint, "v4")
    key = f"{KEY_PREFIX} restart.bin"
    data = random.Random("restart").randbytes(PART + 4321)
    b.put_object(key, data)
    mkey = f"{KEY_PREFIX} restart-multipart.bin"
    part = data[:PART]
    uid = b.init_multipart_upload(mkey).upload_id
    r1 = b.upload_part(mkey, uid, 1, part)
    ctx.server.stop()
    ctx.server.start()
    read_back(ctx.server, key, data, "object after restart")
    b = oss2_bucket(ctx.server.endpoint, "v4")
    parts = list(oss2.PartIterator(b, mkey, uid))
    expect_eq([(p.part_number, p.size, p.etag) for p in parts], [(1, PART, r1.etag)],
              "ListParts after restart")
    r2 = b.upload_part(mkey, uid, 2, data[PART:])
    PI = oss2.models.PartInfo
    r = b.complete_multipart_upload(mkey, uid, [PI(1, r1.etag), PI(2, r2.etag)])
    expect_eq(r.crc, crc64(data), "Complete after restart crc")
    read_back(ctx.server, mkey, data, "multipart completed across a restart")


class CountingHttpClient(ossv2.transport.RequestsHttpClient):
    """The v2 SDK's own HTTP client, counting what goes on the wire (retries included)."""

    def __init__(self, **kw):
        super().__init__(connect_timeout=10, readwrite_timeout=HTTP_TIMEOUT_S, **kw)
        self.lock = threading.Lock()
        self.sent = []

    def send(self, request, **kwargs):
        with self.lock:
            self.sent.append((request.method, request.url))
        return super().send(request, **kwargs)


def check_resume_after_server_sigkill(ctx):
    """The v2 uploader stops after 4 parts (injected failure), the server is killed with
    SIGKILL and started again on the same root (new port); the upload resumes from its
    checkpoint on the new server, reusing the 4 parts, and the object is exact."""
    size = 2 * MIB + 4_321
    n = parts_of(size)
    good = 4
    path = os.path.join(ctx.work, "v2-crash.bin")
    data = make_file(path, size, "v2-crash")
    key = f"{KEY_PREFIX} v2-crash.bin"
    cp_dir = os.path.join(ctx.work, "v2-crash-cp") + os.sep
    os.makedirs(cp_dir, exist_ok=True)
    c = v2_client(ctx.server.endpoint, "v4")
    orig_part = c.upload_part

    def failing(req, **kw):
        if req.part_number > good:
            raise ConnectionResetError(f"injected: connection reset sending part {req.part_number}")
        return orig_part(req, **kw)

    c.upload_part = failing
    try:
        c.uploader(part_size=PART, parallel_num=THREADS, enable_checkpoint=True,
                   checkpoint_dir=cp_dir).upload_file(
            ossv2.PutObjectRequest(bucket=BUCKET, key=key), filepath=path)
        raise CheckFailed("the upload with injected failures succeeded")
    except ossv2.UploadError as e:
        first_id = e.upload_id

    ctx.server.kill()
    ctx.server.start()
    c = v2_client(ctx.server.endpoint, "v4")
    lp = c.list_parts(ossv2.ListPartsRequest(bucket=BUCKET, key=key, upload_id=first_id))
    expect_eq([(p.part_number, p.size) for p in lp.parts], [(i, PART) for i in range(1, good + 1)],
              "ListParts after the server was killed")
    sent = {"parts": 0, "inits": 0}
    orig_part, orig_init = c.upload_part, c.initiate_multipart_upload
    lock = threading.Lock()

    def counting(req, **kw):
        r = orig_part(req, **kw)
        with lock:
            sent["parts"] += 1
        return r

    def counting_init(req, **kw):
        sent["inits"] += 1
        return orig_init(req, **kw)

    c.upload_part, c.initiate_multipart_upload = counting, counting_init
    r = c.uploader(part_size=PART, parallel_num=THREADS, enable_checkpoint=True,
                   checkpoint_dir=cp_dir).upload_file(
        ossv2.PutObjectRequest(bucket=BUCKET, key=key), filepath=path)
    expect_eq((sent["inits"], sent["parts"]), (0, n - good), "(inits, parts) sent on resume")
    expect_eq(r.upload_id, first_id, "resumed upload id")
    expect_eq(r.hash_crc64, str(crc64(data)), "resumed upload hash_crc64")
    read_back(ctx.server, key, data, "upload resumed after a server SIGKILL")


def check_v2_uploader_rides_out_faults(ctx):
    """A second server injects faults on UploadPart (body cut after 64 KiB, a 503, a reset
    after the part was stored); the v2 uploader retries each and the object is exact."""
    faults = ["upload_part@3=drop:64KiB", "upload_part@6=status:503:ServiceUnavailable",
              "upload_part@9=reset"]
    extra = []
    for f in faults:
        extra += ["--fault", f]
    srv = Server(ctx.server.binary, os.path.join(ctx.work, "root-faults"),
                 os.path.join(ctx.work, "server-faults.log"), extra)
    srv.start()
    try:
        size = 3 * MIB + 3_333
        n = parts_of(size)
        path = os.path.join(ctx.work, "v2-faults.bin")
        data = make_file(path, size, "v2-faults")
        key = f"{KEY_PREFIX} v2-faults.bin"
        hc = CountingHttpClient()
        # Enough attempts that a retry landing on another fault still gets through.
        c = v2_client(srv.endpoint, "v4", http_client=hc, attempts=5)
        up = c.uploader(part_size=PART, parallel_num=THREADS)
        r = up.upload_file(ossv2.PutObjectRequest(bucket=BUCKET, key=key), filepath=path)
        expect_eq(r.hash_crc64, str(crc64(data)), "upload through faults: hash_crc64")
        part_puts = [u for m, u in hc.sent if m == "PUT" and "partNumber=" in u]
        expect_eq(len(part_puts), n + len(faults),
                  "UploadPart requests on the wire (parts + one retry per fault)")
        read_back(srv, key, data, "upload through faults")
    finally:
        srv.stop()


def check_clock_skew_refused(ctx):
    """A server whose clock is an hour ahead refuses both SDKs' requests with 403
    RequestTimeTooSkewed and says its time, the request's time and the allowed skew."""
    srv = Server(ctx.server.binary, os.path.join(ctx.work, "root-skew"),
                 os.path.join(ctx.work, "server-skew.log"), ["--clock-offset-secs", "3600"])
    srv.start()
    problems = []
    try:
        for version in ("v1", "v4"):
            b = oss2_bucket(srv.endpoint, version)
            try:
                b.put_object(KEY_PREFIX + " skew.txt", b"x")
                problems.append(f"oss2/{version}: accepted")
            except oss2.exceptions.OssError as e:
                if (e.status, e.code) != (403, "RequestTimeTooSkewed"):
                    problems.append(f"oss2/{version}: {e.status} {e.code}")
                for field in ("ServerTime", "RequestTime", "MaxAllowedSkewMilliseconds"):
                    if not e.details.get(field):
                        problems.append(f"oss2/{version}: error XML lacks {field}: {e.details}")
            c = v2_client(srv.endpoint, version)
            try:
                c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=KEY_PREFIX + " skew.txt",
                                                    body=b"x"))
                problems.append(f"v2/{version}: accepted")
            except ossv2.exceptions.OperationError as e:
                se = e.unwrap()
                got = (getattr(se, "status_code", None), getattr(se, "code", None))
                if got != (403, "RequestTimeTooSkewed"):
                    problems.append(f"v2/{version}: {got}")
    finally:
        srv.stop()
    expect(not problems, "clock skew: " + "; ".join(problems))


def check_unaligned_parts(ctx):
    """Parts whose size is no multiple of 4 KiB (100 KiB + 3 bytes): the object and ranges
    across part boundaries read back exactly."""
    part = 100 * KIB + 3
    size = 11 * part - 5_000
    path = os.path.join(ctx.work, "unaligned.bin")
    data = make_file(path, size, "unaligned")
    key = f"{KEY_PREFIX} unaligned.bin"
    c = v2_client(ctx.server.endpoint, "v4")
    r = c.uploader(part_size=part, parallel_num=THREADS).upload_file(
        ossv2.PutObjectRequest(bucket=BUCKET, key=key), filepath=path)
    expect_eq(r.hash_crc64, str(crc64(data)), "unaligned parts: hash_crc64")
    read_back(ctx.server, key, data, "unaligned parts")
    b = oss2_bucket(ctx.server.endpoint, "v1")
    for start, end in ((part - 10, part + 9), (3 * part - 1, 5 * part), (0, size - 1),
                       (size - 1, size - 1)):
        got = b.get_object(key, byte_range=(start, end)).read()
        expect(got == data[start:end + 1], f"unaligned parts: Range {start}-{end} differs")


def check_ranged_downloads(ctx):
    """Range GETs: oss2.resumable_download and the v2 downloader (3 threads, 256 KiB ranges,
    both check the CRC-64), plus plain closed and open ranges."""
    size = 2 * MIB + 7_777
    data = random.Random("ranged").randbytes(size)
    key = f"{KEY_PREFIX} ranged.bin"
    b = oss2_bucket(ctx.server.endpoint, "v4")
    r = b.put_object(key, data)  # one PUT of 2 MiB
    expect_eq(r.crc, crc64(data), "PutObject crc")

    dst = os.path.join(ctx.work, "oss2-download.bin")
    store = oss2.ResumableDownloadStore(root=os.path.join(ctx.work, "oss2-dl-cp"), dir="cp")
    oss2.resumable_download(b, key, dst, multiget_threshold=PART, part_size=PART,
                            num_threads=THREADS, store=store)
    with open(dst, "rb") as f:
        expect(f.read() == data, "oss2.resumable_download: file differs")

    c = v2_client(ctx.server.endpoint, "v4")
    dst2 = os.path.join(ctx.work, "v2-download.bin")
    c.downloader(part_size=PART, parallel_num=THREADS).download_file(
        ossv2.GetObjectRequest(bucket=BUCKET, key=key), filepath=dst2)
    with open(dst2, "rb") as f:
        expect(f.read() == data, "v2 downloader: file differs")

    g = b.get_object(key, byte_range=(100, 199))
    expect_eq(g.status, 206, "Range 100-199 status")
    expect_eq(g.read(), data[100:200], "Range 100-199 bytes")
    expect_eq(g.headers.get("Content-Range"), f"bytes 100-199/{size}", "Range 100-199 Content-Range")
    g = b.get_object(key, byte_range=(size - 10, None))
    expect_eq(g.status, 206, "open Range status")
    expect_eq(g.read(), data[-10:], "open Range bytes")


def check_object_headers(ctx):
    """x-oss-meta-* round trip, Content-MD5 checked, x-oss-forbid-overwrite honoured."""
    b = oss2_bucket(ctx.server.endpoint, "v1")
    key = f"{KEY_PREFIX} headers.txt"
    data = b"first version\n"
    b.put_object(key, data, headers={"x-oss-meta-author": "alice",
                                     "Content-MD5": oss2.utils.content_md5(data)})
    h = b.head_object(key)
    expect_eq(h.headers.get("x-oss-meta-author"), "alice", "HeadObject x-oss-meta-author")
    c = v2_client(ctx.server.endpoint, "v4")
    hv = c.head_object(ossv2.HeadObjectRequest(bucket=BUCKET, key=key))
    expect_eq(dict(hv.metadata or {}).get("author"), "alice", "v2 HeadObject metadata")

    try:
        b.put_object(key, b"second version\n", headers={"Content-MD5": oss2.utils.content_md5(data)})
        raise CheckFailed("PutObject with a wrong Content-MD5 succeeded")
    except oss2.exceptions.OssError as e:
        expect_eq(e.status, 400, f"wrong Content-MD5 status ({e.code})")
    expect_eq(b.get_object(key).read(), data, "object after a refused Content-MD5")

    try:
        b.put_object(key, b"third version\n", headers={"x-oss-forbid-overwrite": "true"})
        raise CheckFailed("PutObject with x-oss-forbid-overwrite over an object succeeded")
    except oss2.exceptions.OssError as e:
        expect_eq((e.status, e.code), (409, "FileAlreadyExists"), "forbid-overwrite error")
    expect_eq(b.get_object(key).read(), data, "object after a refused overwrite")


def check_sts_token(ctx):
    """A server started with --security-token takes the token from both SDKs (V1 and V4)
    and refuses requests without it or with another one."""
    token = "sts-token-" + "x" * 40
    srv = Server(ctx.server.binary, os.path.join(ctx.work, "root-sts"),
                 os.path.join(ctx.work, "server-sts.log"), ["--security-token", token])
    srv.start()
    problems = []
    try:
        def oss2_with(version, tok):
            if version == "v1":
                return oss2.Bucket(oss2.StsAuth(AK, SK, tok), srv.endpoint, BUCKET,
                                   connect_timeout=HTTP_TIMEOUT_S)
            prov = oss2.credentials.StaticCredentialsProvider(AK, SK, tok)
            return oss2.Bucket(oss2.ProviderAuthV4(prov), srv.endpoint, BUCKET, region=REGION,
                               connect_timeout=HTTP_TIMEOUT_S)

        def v2_with(version, tok):
            cfg = ossv2.config.load_default()
            cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(
                AK, SK, security_token=tok)
            cfg.region, cfg.endpoint, cfg.use_path_style = REGION, srv.endpoint, True
            cfg.signature_version, cfg.retry_max_attempts = version, 1
            return ossv2.Client(cfg)

        for version in ("v1", "v4"):
            key = f"{KEY_PREFIX} sts {version}.txt"
            try:
                oss2_with(version, token).put_object(key, b"sts")
                got = oss2_with(version, token).get_object(key).read()
                if got != b"sts":
                    problems.append(f"oss2/{version}: read back {got!r}")
            except oss2.exceptions.OssError as e:
                problems.append(f"oss2/{version} with the token: {e.status} {e.code}")
            for label, bucket in (("no token", oss2_bucket(srv.endpoint, version)),
                                  ("another token", oss2_with(version, token + "-other"))):
                try:
                    bucket.get_object(key)
                    problems.append(f"oss2/{version} with {label}: accepted")
                except oss2.exceptions.OssError as e:
                    if e.status != 403:
                        problems.append(f"oss2/{version} with {label}: {e.status} {e.code}")
            # alibabacloud-oss-v2 1.4.1 signing V1 puts the token in a `security-token` header,
            # not `x-oss-security-token` as oss2 and the Go SDK v2 do; whether OSS takes that
            # is not known here, so the v2 SDK is held to its V4 signer only.
            if version == "v1":
                continue
            try:
                g = v2_with(version, token).get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=key))
                if g.body.read() != b"sts":
                    problems.append(f"v2/{version}: read back differs")
            except ossv2.exceptions.OperationError as e:
                problems.append(f"v2/{version} with the token: {e.unwrap()}")
    finally:
        srv.stop()
    expect(not problems, "security token: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# Listing and presigned URLs (issue 11): buckets, bucket info and location, objects by folder
# across pages, and share links that plain HTTP fetches until they expire.

LIST_PREFIX = "list/"
LIST_MANY = 1_050  # more than one page of 1,000


def _fill_listing(ctx):
    """Puts LIST_MANY tiny objects under list/many/ plus a few others, once per run."""
    if getattr(ctx, "listing_filled", False):
        return
    c = v2_client(ctx.server.endpoint)
    keys = [f"{LIST_PREFIX}many/{i:05d}" for i in range(LIST_MANY)]
    keys += [f"{LIST_PREFIX}a b+中.txt", f"{LIST_PREFIX}dir/", f"{LIST_PREFIX}dir/x.txt",
             f"{LIST_PREFIX}dir/sub/y.txt"]
    errors = []
    lock = threading.Lock()
    todo = list(keys)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                k = todo.pop()
            try:
                c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=k,
                                                    body=b"" if k.endswith("/") else k.encode()))
            except Exception as e:  # reported below, once
                with lock:
                    errors.append(f"{k}: {e}")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    expect(not errors, "filling the listing: " + "; ".join(errors[:3]))
    ctx.listing_filled = True


def check_list_buckets_and_bucket_info(ctx):
    extra = BUCKET + "-second"
    oss2.Bucket(oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(AK, SK)),
                ctx.server.endpoint, extra, region=REGION).create_bucket()
    want = sorted([BUCKET, extra])
    for version in ("v1", "v4"):
        auth = (oss2.Auth(AK, SK) if version == "v1" else
                oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(AK, SK)))
        service = oss2.Service(auth, ctx.server.endpoint, region=REGION)
        got = [b.name for b in oss2.BucketIterator(service, max_keys=1)]
        expect_eq(got, want, f"oss2/{version} BucketIterator(max_keys=1)")
        b = next(iter(oss2.BucketIterator(service)))
        expect_eq((b.location, b.region), ("oss-" + REGION, REGION), f"oss2/{version} bucket region")
        bucket = oss2_bucket(ctx.server.endpoint, version)
        info = bucket.get_bucket_info()
        expect_eq((info.name, info.location, info.acl.grant), (BUCKET, "oss-" + REGION, "private"),
                  f"oss2/{version} GetBucketInfo")
        expect_eq(bucket.get_bucket_location().location, "oss-" + REGION,
                  f"oss2/{version} GetBucketLocation")
    c = v2_client(ctx.server.endpoint)
    pages = list(c.list_buckets_paginator().iter_page(ossv2.ListBucketsRequest(), limit=1))
    got = [b.name for p in pages for b in (p.buckets or [])]
    expect_eq(got, want, "v2 ListBuckets paginator (limit 1)")
    expect_eq(len(pages), 2, "v2 ListBuckets pages")
    expect_eq(pages[0].buckets[0].region, REGION, "v2 ListBuckets region")
    info = c.get_bucket_info(ossv2.GetBucketInfoRequest(bucket=BUCKET)).bucket_info
    expect_eq((info.name, info.location, info.acl), (BUCKET, "oss-" + REGION, "private"),
              "v2 GetBucketInfo")
    loc = c.get_bucket_location(ossv2.GetBucketLocationRequest(bucket=BUCKET)).location
    expect_eq(loc, "oss-" + REGION, "v2 GetBucketLocation")


def check_bucket_acl_and_public_reads(ctx):
    """Bucket ACLs as the SDKs set and read them; a public bucket's objects open for anyone,
    a private one's do not; a V4 request signed for another region is refused, as on OSS."""
    name = BUCKET + "-acl"
    auth4 = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(AK, SK))
    b = oss2.Bucket(auth4, ctx.server.endpoint, name, region=REGION)
    b.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    b.put_object("open.txt", b"for anyone")
    plain = f"{ctx.server.endpoint}/{name}/open.txt"
    expect_eq(_http("GET", plain)[0], 403, "unsigned GET on a private bucket")
    b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    expect_eq(b.get_bucket_acl().acl, "public-read", "oss2 GetBucketAcl after PutBucketAcl")
    expect_eq(b.get_bucket_info().acl.grant, "public-read", "oss2 GetBucketInfo grant")
    status, _, body, _ = _http("GET", plain)
    expect_eq((status, body), (200, b"for anyone"), "unsigned GET on a public-read bucket")
    anon = oss2.Bucket(oss2.AnonymousAuth(), ctx.server.endpoint, name)
    expect_eq(anon.get_object("open.txt").read(), b"for anyone", "oss2 AnonymousAuth GET")
    b.put_object("closed.txt", b"x", headers={"x-oss-object-acl": "private"})
    expect_eq(_http("GET", f"{ctx.server.endpoint}/{name}/closed.txt")[0], 403,
              "unsigned GET of a private object in a public bucket")
    c = v2_client(ctx.server.endpoint)
    c.put_bucket_acl(ossv2.PutBucketAclRequest(bucket=name, acl="private"))
    got = c.get_bucket_acl(ossv2.GetBucketAclRequest(bucket=name)).acl
    expect_eq(got, "private", "v2 GetBucketAcl after PutBucketAcl")
    expect_eq(_http("GET", plain)[0], 403, "unsigned GET once private again")
    wrong = oss2.Bucket(auth4, ctx.server.endpoint, name, region="cn-beijing")
    try:
        wrong.get_bucket_info()
        expect(False, "a V4 request signed for another region was accepted")
    except oss2.exceptions.OssError as e:
        expect_eq((e.status, e.code), (400, "InvalidArgument"), "signed for another region")


def check_list_objects(ctx):
    _fill_listing(ctx)
    many = [f"{LIST_PREFIX}many/{i:05d}" for i in range(LIST_MANY)]
    top_keys = [f"{LIST_PREFIX}a b+中.txt"]
    top_dirs = [f"{LIST_PREFIX}dir/", f"{LIST_PREFIX}many/"]
    for version in ("v1", "v4"):
        b = oss2_bucket(ctx.server.endpoint, version)
        for name, it in (("ObjectIterator", oss2.ObjectIterator),
                         ("ObjectIteratorV2", oss2.ObjectIteratorV2)):
            got = [o.key for o in it(b, prefix=LIST_PREFIX + "many/", max_keys=1000)]
            expect_eq(got, many, f"oss2/{version} {name} over {LIST_MANY} keys")
            entries = list(it(b, prefix=LIST_PREFIX, delimiter="/"))
            dirs = [o.key for o in entries if o.is_prefix()]
            keys = [o.key for o in entries if not o.is_prefix()]
            expect_eq((keys, dirs), (top_keys, top_dirs), f"oss2/{version} {name} with '/'")
        r = b.list_objects_v2(prefix=LIST_PREFIX + "dir/", delimiter="/", encoding_type="url")
        expect_eq([o.key for o in r.object_list], [f"{LIST_PREFIX}dir/", f"{LIST_PREFIX}dir/x.txt"],
                  f"oss2/{version} ListObjectsV2 url-encoded")
        expect_eq(r.prefix_list, [f"{LIST_PREFIX}dir/sub/"], f"oss2/{version} ListObjectsV2 prefixes")
    c = v2_client(ctx.server.endpoint)
    pages = list(c.list_objects_v2_paginator().iter_page(
        ossv2.ListObjectsV2Request(bucket=BUCKET, prefix=LIST_PREFIX + "many/")))
    expect_eq([o.key for p in pages for o in (p.contents or [])], many, "v2 ListObjectsV2 paginator")
    expect(len(pages) >= 2, f"v2 ListObjectsV2 gave {len(pages)} page(s) for {LIST_MANY} keys")
    pages = list(c.list_objects_paginator().iter_page(
        ossv2.ListObjectsRequest(bucket=BUCKET, prefix=LIST_PREFIX, delimiter="/")))
    keys = [o.key for p in pages for o in (p.contents or [])]
    dirs = [d.prefix for p in pages for d in (p.common_prefixes or [])]
    expect_eq((keys, dirs), (top_keys, top_dirs), "v2 ListObjects with '/'")
    # Deleting the folder marker leaves what is in the folder.
    b = oss2_bucket(ctx.server.endpoint, "v4")
    b.delete_object(f"{LIST_PREFIX}dir/")
    got = [o.key for o in oss2.ObjectIteratorV2(b, prefix=f"{LIST_PREFIX}dir/", delimiter="/")]
    expect_eq(sorted(got), [f"{LIST_PREFIX}dir/sub/", f"{LIST_PREFIX}dir/x.txt"],
              "after deleting dir/")


def _http(method, url, data=None):
    import requests
    r = requests.request(method, url, data=data, timeout=HTTP_TIMEOUT_S,
                         proxies={"http": None, "https": None})
    code = ""
    if r.status_code >= 400 and r.content:
        m = re.search(r"<Code>([^<]*)</Code>", r.text)
        code = m.group(1) if m else ""
    return r.status_code, code, r.content, r.headers


def _tamper(url):
    """The same URL with the last character of its signature changed."""
    m = re.search(r"(x-oss-signature=|Signature=)([^&]+)", url)
    sig = m.group(2)
    last = "0" if sig[-1] != "0" else "1"
    return url[:m.start(2)] + sig[:-1] + last + url[m.end(2):]


def check_presigned_urls(ctx):
    key = f"{KEY_PREFIX} shared.bin"
    data = random.Random("presign").randbytes(50_000)
    oss2_bucket(ctx.server.endpoint, "v4").put_object(key, data)
    problems = []

    def get_ok(label, url, want=data):
        status, code, body, _ = _http("GET", url)
        if status != 200 or body != want:
            problems.append(f"{label}: GET {status} {code}")

    def refused(label, method, url, want_code):
        status, code, _, _ = _http(method, url, b"x" if method == "PUT" else None)
        if status != 403 or code != want_code:
            problems.append(f"{label}: {method} gave {status} {code!r}, want 403 {want_code}")

    for version in ("v1", "v4"):
        b = oss2_bucket(ctx.server.endpoint, version)
        url = b.sign_url("GET", key, 600, slash_safe=True)
        get_ok(f"oss2/{version} sign_url GET", url)
        refused(f"oss2/{version} tampered", "GET", _tamper(url), "SignatureDoesNotMatch")
        refused(f"oss2/{version} GET link used to PUT", "PUT", url, "SignatureDoesNotMatch")
        put_key = f"{KEY_PREFIX} via oss2 {version}.bin"
        put_url = b.sign_url("PUT", put_key, 600, slash_safe=True)
        status, code, _, _ = _http("PUT", put_url, data[:999])
        if status != 200 or b.get_object(put_key).read() != data[:999]:
            problems.append(f"oss2/{version} sign_url PUT: {status} {code}")
        head = b.sign_url("HEAD", key, 60, slash_safe=True)
        status, _, _, headers = _http("HEAD", head)
        if status != 200 or headers.get("Content-Length") != str(len(data)):
            problems.append(f"oss2/{version} sign_url HEAD: {status}")
        dl = b.sign_url("GET", key, 600, slash_safe=True,
                        params={"response-content-disposition": "attachment; filename=\"s.bin\""})
        status, _, _, headers = _http("GET", dl)
        if status != 200 or headers.get("Content-Disposition") != "attachment; filename=\"s.bin\"":
            problems.append(f"oss2/{version} response-content-disposition: {status} "
                            f"{headers.get('Content-Disposition')!r}")
    # oss2 V1 takes an expiry in the past as it is: the link is already dead.
    refused("oss2/v1 expired", "GET",
            oss2_bucket(ctx.server.endpoint, "v1").sign_url("GET", key, -60), "AccessDenied")

    for version in ("v1", "v4"):
        c = v2_client(ctx.server.endpoint, version)
        r = c.presign(ossv2.GetObjectRequest(bucket=BUCKET, key=key))
        get_ok(f"v2/{version} presign GET", r.url)
        refused(f"v2/{version} tampered", "GET", _tamper(r.url), "SignatureDoesNotMatch")
        put_key = f"{KEY_PREFIX} via v2 {version}.bin"
        r = c.presign(ossv2.PutObjectRequest(bucket=BUCKET, key=put_key))
        status, code, _, _ = _http("PUT", r.url, data[:777])
        g = c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=put_key))
        if status != 200 or g.body.read() != data[:777]:
            problems.append(f"v2/{version} presign PUT: {status} {code}")

    # A V4 link signed two hours ago for one hour, by the SDK's own signer.
    from alibabacloud_oss_v2.signer.v4 import SignerV4
    from alibabacloud_oss_v2.types import Credentials, HttpRequest, SigningContext
    import datetime
    from urllib.parse import quote
    now = datetime.datetime.now(datetime.timezone.utc)
    url = f"{ctx.server.endpoint}/{BUCKET}/{quote(key, safe='/')}"
    sctx = SigningContext(product="oss", region=REGION, bucket=BUCKET, key=key,
                          request=HttpRequest("GET", url),
                          credentials=Credentials(AK, SK),
                          signing_time=now - datetime.timedelta(hours=2))
    sctx.auth_method_query = True
    sctx.expiration_time = now - datetime.timedelta(hours=1)
    SignerV4().sign(sctx)
    refused("v2/v4 expired", "GET", sctx.request.url, "AccessDenied")
    # The same signer, a link still valid: accepted.
    sctx = SigningContext(product="oss", region=REGION, bucket=BUCKET, key=key,
                          request=HttpRequest("GET", url),
                          credentials=Credentials(AK, SK),
                          signing_time=now - datetime.timedelta(minutes=30))
    sctx.auth_method_query = True
    sctx.expiration_time = now + datetime.timedelta(hours=1)
    SignerV4().sign(sctx)
    get_ok("v2/v4 signed 30 min ago for 90 min", sctx.request.url)
    expect(not problems, "presigned URLs: " + "; ".join(problems))


CHECKS = [
    check_crc64_vectors,
    check_small_objects,
    check_query_plus_means_space,
    check_oss2_resumable_v1,
    check_oss2_resumable_v4,
    check_v2_uploader,
    check_oss2_resume_after_kill,
    check_v2_resume_after_failure,
    check_oss2_multipart_calls,
    check_v2_multipart_calls,
    check_complete_errors,
    check_wrong_secret,
    check_ranged_downloads,
    check_unaligned_parts,
    check_object_headers,
    check_restart_keeps_data,
    check_resume_after_server_sigkill,
    check_v2_uploader_rides_out_faults,
    check_clock_skew_refused,
    check_sts_token,
    check_list_buckets_and_bucket_info,
    check_bucket_acl_and_public_reads,
    check_list_objects,
    check_presigned_urls,
]


# --------------------------------------------------------------------------------------------

def find_binary(arg):
    binary = arg or os.environ.get("OSS_UPLOADER_BIN")
    if not binary:
        here = os.path.dirname(os.path.abspath(__file__))
        guess = os.path.normpath(os.path.join(here, "..", "..", "target", "debug", "oss-uploader"))
        if os.path.exists(guess):
            binary = guess
    if not binary or not os.access(binary, os.X_OK):
        sys.exit(f"oss-uploader binary not found or not executable: {binary!r} "
                 "(pass it as an argument or set OSS_UPLOADER_BIN)")
    return os.path.abspath(binary)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child-oss2-stall":
        child_oss2_stall(sys.argv[2])
        return 0

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", help="path to oss-uploader (else $OSS_UPLOADER_BIN)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir even on success")
    ap.add_argument("--only", action="append", default=[],
                    help="run only checks whose name contains this (repeatable)")
    opts = ap.parse_args()
    binary = find_binary(opts.binary)

    work = tempfile.mkdtemp(prefix="oss-sdk-compat-")
    server = Server(binary, os.path.join(work, "root"), os.path.join(work, "server.log"))
    log(f"oss2 {oss2.__version__}, alibabacloud-oss-v2 {ossv2.__version__}, "
        f"python {sys.version.split()[0]}, binary {binary}, work dir {work}")

    def watchdog():
        log(f"TIMEOUT: the run took longer than {TOTAL_TIMEOUT_S:.0f} s; stopping")
        try:
            for proc in list(LIVE_PROCS):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            print("0 passed, 1 failed", flush=True)
            os._exit(2)

    timer = threading.Timer(TOTAL_TIMEOUT_S, watchdog)
    timer.daemon = True
    timer.start()

    passed, failed = 0, 0
    try:
        try:
            server.start()
        except Exception as e:  # the server cannot start: every check fails
            log(f"FAIL server start: {e}\n{server.tail()}")
            print("0 passed, 1 failed", flush=True)
            return 1
        ctx = Ctx(server, work)
        for fn in CHECKS:
            name = fn.__name__[len("check_"):]
            if opts.only and not any(s in name for s in opts.only):
                continue
            t0 = time.monotonic()
            try:
                if not server.alive():
                    server.stop()
                    server.start()
                fn(ctx)
                passed += 1
                log(f"PASS {name} ({time.monotonic() - t0:.1f} s)")
            except Exception as e:
                failed += 1
                log(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(e).__name__}: {e}")
                traceback.print_exc(file=sys.stdout)
                if not server.alive():
                    log(f"  the server process has exited; its log ends:\n{server.tail()}")
    finally:
        server.stop()
        timer.cancel()
        if failed == 0 and not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work dir kept: {work} (server log: {server.log_path})")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
