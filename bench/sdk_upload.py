"""One upload with an official Alibaba Cloud SDK, for bench/upload_bench.sh.

    sdk_upload.py oss2|v2 ENDPOINT BUCKET KEY FILE PART_SIZE THREADS CHECKPOINT_DIR

Uses the SDK's own resumable uploader with its checkpoint on, as a user of that SDK would:
oss2.resumable_upload, and the v2 SDK's Client.uploader().upload_file. Credentials come from
OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET; the region is cn-hangzhou, V4 signatures.
Prints the CRC-64 the server reported; exits non-zero on any failure.
"""
import os
import sys

REGION = "cn-hangzhou"


def main():
    tool, endpoint, bucket, key, path, part, threads, cp_dir = sys.argv[1:9]
    part, threads = int(part), int(threads)
    ak, sk = os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"]
    os.makedirs(cp_dir, exist_ok=True)
    if tool == "oss2":
        import oss2

        auth = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(ak, sk))
        b = oss2.Bucket(auth, endpoint, bucket, region=REGION, enable_crc=True)
        r = oss2.resumable_upload(b, key, path, store=oss2.ResumableStore(root=cp_dir),
                                  multipart_threshold=part, part_size=part,
                                  num_threads=threads)
        print(f"oss2 crc64 {r.crc}")
    elif tool == "v2":
        import alibabacloud_oss_v2 as ossv2

        cfg = ossv2.config.load_default()
        cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(ak, sk)
        cfg.region = REGION
        cfg.endpoint = endpoint
        cfg.use_path_style = True
        c = ossv2.Client(cfg)
        # The SDK takes dirname() of the checkpoint dir: keep the trailing separator.
        up = c.uploader(part_size=part, parallel_num=threads, enable_checkpoint=True,
                        checkpoint_dir=cp_dir.rstrip(os.sep) + os.sep)
        r = up.upload_file(ossv2.PutObjectRequest(bucket=bucket, key=key), filepath=path)
        print(f"v2 crc64 {r.hash_crc64}")
    else:
        sys.exit(f"unknown tool {tool}")


if __name__ == "__main__":
    main()
