"""One upload with an official Alibaba Cloud SDK, for bench/upload_bench.sh and bench/wan_bench.sh.

    sdk_upload.py oss2|v2 ENDPOINT BUCKET KEY FILE PART_SIZE THREADS CHECKPOINT_DIR

Uses the SDK's own resumable uploader with its checkpoint on, as a user of that SDK would:
oss2.resumable_upload, and the v2 SDK's Client.uploader().upload_file. Credentials come from
OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET; the region is cn-hangzhou, V4 signatures.

PART_SIZE and THREADS may be "-": the SDK's own defaults (oss2: 10 MiB parts above 10 MiB, one
thread; v2: 6 MiB parts, 3 at once). When FILE is a folder, KEY is a prefix and every file in it
goes up with the same uploader, THREADS files at once (a thread pool, as a user would write
it), or one after the other when THREADS is "-" (the SDKs upload one file per call).

Prints the CRC-64 the server reported (for a folder: how many files); exits non-zero on any
failure.
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

REGION = "cn-hangzhou"


def main():
    tool, endpoint, bucket, key, path, part, threads, cp_dir = sys.argv[1:9]
    part = None if part == "-" else int(part)
    threads = None if threads == "-" else int(threads)
    ak, sk = os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"]
    os.makedirs(cp_dir, exist_ok=True)
    folder = os.path.isdir(path)
    # For a folder THREADS is files at once; each file is sent with the SDK's defaults.
    per_file_threads = None if folder else threads
    if tool == "oss2":
        import oss2

        if threads:
            # More threads than pooled connections would open and drop connections.
            oss2.defaults.connection_pool_size = max(threads, oss2.defaults.connection_pool_size)
        auth = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(ak, sk))
        b = oss2.Bucket(auth, endpoint, bucket, region=REGION, enable_crc=True)
        store = oss2.ResumableStore(root=cp_dir)
        kw = {}
        if part:
            kw.update(multipart_threshold=part, part_size=part)
        if per_file_threads:
            kw["num_threads"] = per_file_threads

        def send(k, p):
            return oss2.resumable_upload(b, k, p, store=store, **kw).crc
    elif tool == "v2":
        import alibabacloud_oss_v2 as ossv2

        cfg = ossv2.config.load_default()
        cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(ak, sk)
        cfg.region = REGION
        cfg.endpoint = endpoint
        cfg.use_path_style = True
        c = ossv2.Client(cfg)
        kw = {}
        if part:
            kw["part_size"] = part
        if per_file_threads:
            kw["parallel_num"] = per_file_threads
        # The SDK takes dirname() of the checkpoint dir: keep the trailing separator.
        up = c.uploader(enable_checkpoint=True, checkpoint_dir=cp_dir.rstrip(os.sep) + os.sep, **kw)

        def send(k, p):
            r = up.upload_file(ossv2.PutObjectRequest(bucket=bucket, key=k), filepath=p)
            return r.hash_crc64
    else:
        sys.exit(f"unknown tool {tool}")

    if not folder:
        print(f"{tool} crc64 {send(key, path)}")
        return
    names = sorted(os.listdir(path))
    jobs = [(f"{key.rstrip('/')}/{n}", os.path.join(path, n)) for n in names]
    if threads:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            done = list(pool.map(lambda j: send(*j), jobs))
    else:
        done = [send(*j) for j in jobs]
    if any(crc is None for crc in done):
        sys.exit(f"{tool}: a file came back without a CRC-64")
    print(f"{tool} uploaded {len(done)} files")


if __name__ == "__main__":
    main()
