"""Uploaders: where local files go so the hosted API can fetch them (it has no upload route).

    studio = sd.Studio(uploader=S3Uploader("my-bucket", expires=3600))

Any callable path -> URL works as `Studio(uploader=...)`; this package ships an S3-compatible
one (AWS S3, Cloudflare R2, MinIO, GCS's S3 interface), in the ``[s3]`` extra.
"""

from ._s3 import S3Uploader, UploadError

__all__ = ["S3Uploader", "UploadError"]
