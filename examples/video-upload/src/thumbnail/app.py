"""Makes a JPEG thumbnail of every video uploaded under videos/.

Triggered by s3:ObjectCreated:* on the videos bucket (prefix videos/, suffix
.mp4). It downloads the video to /tmp, lets ffmpeg grab one frame half a
second in, scales it to THUMBNAIL_WIDTH and stores it as <name>.jpg in the
thumbnails bucket. A failure raises, so the invocation is retried and, in
the end, kept as a dead letter rather than silently dropped.
"""

import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse

import boto3

THUMBNAILS_BUCKET = os.environ["THUMBNAILS_BUCKET"]
WIDTH = int(os.environ.get("THUMBNAIL_WIDTH", "320"))
FFMPEG = os.environ.get("FFMPEG") or shutil.which("ffmpeg") or "/usr/bin/ffmpeg"

s3 = boto3.client("s3")


def thumbnail_key(video_key):
    # videos/trips/holiday.mp4 -> trips/holiday.jpg
    name = video_key[len("videos/"):] if video_key.startswith("videos/") else video_key
    return os.path.splitext(name)[0] + ".jpg"


def make_thumbnail(src, dst):
    # -ss before -i seeks on the input (fast); a clip shorter than the seek
    # point yields no frame, so fall back to the first frame.
    for seek in ("0.5", "0"):
        cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-ss", seek, "-i", src,
               "-frames:v", "1", "-vf", "scale=%d:-2" % WIDTH, "-q:v", "3", dst]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=45)
        if result.returncode == 0 and os.path.exists(dst) and os.path.getsize(dst) > 0:
            return
        print("ffmpeg (seek %s) exit %d: %s" % (seek, result.returncode, result.stderr.strip()))
    raise RuntimeError("ffmpeg made no thumbnail of " + src)


def handler(event, context):
    made = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        # Keys in S3 event records are URL-encoded, spaces as '+'.
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        out_key = thumbnail_key(key)
        print("video", json.dumps({"video": "s3://%s/%s" % (bucket, key), "size": record["s3"]["object"].get("size")}))
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "in.mp4")
            dst = os.path.join(tmp, "out.jpg")
            s3.download_file(bucket, key, src)
            make_thumbnail(src, dst)
            with open(dst, "rb") as f:
                s3.put_object(Bucket=THUMBNAILS_BUCKET, Key=out_key, Body=f,
                              ContentType="image/jpeg",
                              Metadata={"source": "s3://%s/%s" % (bucket, key)})
            size = os.path.getsize(dst)
        print("thumbnail", json.dumps({"video": "s3://%s/%s" % (bucket, key),
                                       "thumbnail": "s3://%s/%s" % (THUMBNAILS_BUCKET, out_key),
                                       "bytes": size, "width": WIDTH}))
        made.append(out_key)
    return {"thumbnails": made}
